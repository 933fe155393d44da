//! A hostile server: one loopback server per behaviour a broken or malicious server shows
//! (never answers, stalls mid-body, resets, huge, compressed-bomb, invalid or deeply nested
//! bodies, wrong content types, redirect loops, off-host redirects, TLS expected where there
//! is none, control characters in values, ...). Each behaviour answers smartcheck's discovery
//! suite, and each run must end within its timeouts, stay within bounded memory, name the
//! cause, and write complete reports.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// The most memory one run may take (peak resident set of the smartcheck process).
const MEMORY_LIMIT_KB: i64 = 300 * 1024;

/// The most memory a run whose answers are large may take: a small multiple of the largest
/// answer (4.8 MB), never a copy per check, per secret or per encoding. The tests run the
/// debug build, whose own pages take some 20 MB more than the release build's; BENCHMARKS.md
/// has the release build's figures (each under 100 MB).
const LARGE_ANSWER_LIMIT_KB: i64 = 128 * 1024;

/// A hang detector, not a speed claim: every request is bounded by 2 s, and no run of the
/// discovery suite needs more than a few dozen of them.
const HANG_LIMIT: Duration = Duration::from_secs(120);

/// How the server answers one connection, written in raw HTTP/1.1 so that it can misbehave
/// in ways a framework would refuse to.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    NeverAnswers,
    StallsMidBody,
    DribblesSlowly,
    ResetsTheConnection,
    ClosesWithoutAnswer,
    ShortBody,
    NotHttp,
    HugeBody,
    LargeDocumentUnderTheCap,
    OneLargeStringField,
    LargeTokens,
    HugeHeader,
    ManyHeaders,
    CompressedBomb,
    InvalidJson,
    DeeplyNestedJson,
    WrongContentType,
    EmptyBody,
    ServerErrorPage,
    RedirectLoop,
    OffHostRedirect,
    ControlCharacters,
    TlsExpectedOnPlainPort,
    InvalidUtf8,
}

impl Behaviour {
    /// Text the report must hold: the cause, in smartcheck's words.
    fn cause(self) -> &'static str {
        use Behaviour::*;
        match self {
            NeverAnswers | StallsMidBody | DribblesSlowly => "no complete answer within 2s",
            ResetsTheConnection => "the server reset the connection before answering",
            ClosesWithoutAnswer => "the server closed the connection without answering",
            ShortBody => "the response body could not be read",
            NotHttp => "the answer is not HTTP",
            HugeBody => "the response body is larger than the limit of 5242880 bytes",
            LargeDocumentUnderTheCap => "smart-config-json-object",
            OneLargeStringField | LargeTokens => "smart-config-json-object",
            HugeHeader => "larger than smartcheck reads",
            ManyHeaders => "more than 100 header fields",
            CompressedBomb => "is not JSON",
            InvalidJson => "is not JSON",
            DeeplyNestedJson => "is nested deeper than 128 levels",
            WrongContentType => "text/html",
            EmptyBody => "an empty body",
            ServerErrorPage => "500",
            RedirectLoop => "status 302 (a redirect to /loop/fhir/.well-known/smart-configuration, not followed)",
            OffHostRedirect => "status 302 (a redirect to http://127.0.0.2:9/elsewhere, not followed)",
            ControlCharacters => "\\u{1b}[2J",
            TlsExpectedOnPlainPort => "no TLS answer on this port",
            InvalidUtf8 => "\u{fffd}",
        }
    }
}

fn json_head(status: &str, content_type: &str, length: usize) -> String {
    format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n")
}

fn read_request(stream: &mut TcpStream) {
    let mut buffer = [0u8; 8192];
    let mut seen = Vec::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buffer[..n]);
        if seen.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
}

fn answer(behaviour: Behaviour, mut stream: TcpStream) {
    use Behaviour::*;
    if let TlsExpectedOnPlainPort = behaviour {
        // A plain HTTP server given a TLS ClientHello: a 400 at once, as servers do.
        let mut hello = [0u8; 1024];
        let _ = stream.read(&mut hello);
        let _ = stream.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    read_request(&mut stream);
    let send = |stream: &mut TcpStream, bytes: &[u8]| {
        let _ = stream.write_all(bytes);
    };
    match behaviour {
        NeverAnswers => std::thread::sleep(Duration::from_secs(30)),
        StallsMidBody => {
            send(&mut stream, json_head("200 OK", "application/json", 1000).as_bytes());
            send(&mut stream, b"{\"issuer\": \"http://");
            std::thread::sleep(Duration::from_secs(30));
        }
        DribblesSlowly => {
            send(&mut stream, json_head("200 OK", "application/json", 200).as_bytes());
            for _ in 0..200 {
                send(&mut stream, b" ");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        ResetsTheConnection => {
            // SO_LINGER 0: close sends a reset.
            let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: setsockopt on a socket this thread owns.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    &linger as *const libc::linger as *const libc::c_void,
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
        }
        ClosesWithoutAnswer => {}
        ShortBody => {
            send(&mut stream, json_head("200 OK", "application/json", 5000).as_bytes());
            send(&mut stream, b"{\"issuer\": \"x\"");
        }
        NotHttp => send(&mut stream, b"SSH-2.0-OpenSSH_9.2\r\n\x00\x01\x02garbage\r\n\r\n"),
        HugeBody => {
            send(&mut stream, json_head("200 OK", "application/json", 50 << 20).as_bytes());
            let chunk = vec![b' '; 1 << 20];
            for _ in 0..50 {
                if stream.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
        LargeDocumentUnderTheCap => {
            // 4.8 MB: a JSON object with many long members, under the 5 MB cap.
            let mut body = String::from("{\"issuer\": \"x\"");
            let mut i = 0;
            while body.len() < 4_800_000 {
                body.push_str(&format!(",\"member-{i}\": \"{}\"", "v".repeat(1000)));
                i += 1;
            }
            body.push('}');
            send(&mut stream, json_head("200 OK", "application/json", body.len()).as_bytes());
            send(&mut stream, body.as_bytes());
        }
        OneLargeStringField => {
            // 4.8 MB in one string member (the members a check reads are its neighbours).
            let body = format!(
                "{{\"issuer\": \"x\", \"authorization_endpoint\": \"{}\"}}",
                "a".repeat(4_800_000)
            );
            send(&mut stream, json_head("200 OK", "application/json", body.len()).as_bytes());
            send(&mut stream, body.as_bytes());
        }
        LargeTokens => {
            // Three credentials of 1 MB each, by their names: each is learned and masked in
            // every form it may take.
            let token = |c: char| {
                (0..1_000_000)
                    .map(|i| if i % 7 == 0 { '-' } else { c })
                    .collect::<String>()
            };
            let body = format!(
                "{{\"issuer\": \"x\", \"access_token\": \"{}\", \"refresh_token\": \"{}\", \"id_token\": \"{}\"}}",
                token('a'),
                token('r'),
                token('i')
            );
            send(&mut stream, json_head("200 OK", "application/json", body.len()).as_bytes());
            send(&mut stream, body.as_bytes());
        }
        ManyHeaders => {
            // 200 small header fields: each is valid, the count is past the client's limit.
            let mut head = String::from("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n");
            for i in 0..200 {
                head.push_str(&format!("X-Field-{i}: {i}\r\n"));
            }
            head.push_str("Content-Length: 2\r\n\r\n{}");
            send(&mut stream, head.as_bytes());
        }
        HugeHeader => {
            let header = format!(
                "HTTP/1.1 200 OK\r\nX-Huge: {}\r\nContent-Length: 2\r\n\r\n{{}}",
                "h".repeat(1 << 20)
            );
            send(&mut stream, header.as_bytes());
        }
        CompressedBomb => {
            // 10 MB of zeros, gzip-compressed to about 10 kB, sent as gzip.
            let bomb = gzip_of_zeros(10 << 20);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                bomb.len()
            );
            send(&mut stream, head.as_bytes());
            send(&mut stream, &bomb);
        }
        InvalidJson => {
            let body = b"{\"issuer\": \"x\", trailing";
            send(&mut stream, json_head("200 OK", "application/json", body.len()).as_bytes());
            send(&mut stream, body);
        }
        DeeplyNestedJson => {
            let body = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
            send(&mut stream, json_head("200 OK", "application/json", body.len()).as_bytes());
            send(&mut stream, body.as_bytes());
        }
        WrongContentType => {
            let body = b"{\"issuer\": \"x\"}";
            send(&mut stream, json_head("200 OK", "text/html", body.len()).as_bytes());
            send(&mut stream, body);
        }
        EmptyBody => send(&mut stream, json_head("200 OK", "application/json", 0).as_bytes()),
        ServerErrorPage => {
            let body = b"<html><body>Internal Server Error</body></html>";
            send(&mut stream, json_head("500 Internal Server Error", "text/html", body.len()).as_bytes());
            send(&mut stream, body);
        }
        RedirectLoop => send(
            &mut stream,
            b"HTTP/1.1 302 Found\r\nLocation: /loop/fhir/.well-known/smart-configuration\r\nContent-Length: 0\r\n\r\n",
        ),
        OffHostRedirect => send(
            &mut stream,
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:9/elsewhere\r\nContent-Length: 0\r\n\r\n",
        ),
        ControlCharacters => {
            let body = "{\"issuer\": \"x\u{1b}[2J\u{7}\", \"token_endpoint\": \"http://x/\u{1b}[31mtoken\"}";
            send(&mut stream, json_head("200 OK", "application/json", body.len()).as_bytes());
            send(&mut stream, body.as_bytes());
        }
        TlsExpectedOnPlainPort => unreachable!("answered above"),
        InvalidUtf8 => {
            let body: &[u8] = b"{\"issuer\": \"\xff\xfe\"}";
            send(&mut stream, json_head("200 OK", "application/json", body.len()).as_bytes());
            send(&mut stream, body);
        }
    }
}

/// A gzip member of `n` zero bytes (stored as deflate blocks of repeated zeros).
fn gzip_of_zeros(n: usize) -> Vec<u8> {
    // A tiny deflate encoder is not worth writing: a fixed-Huffman block that repeats a zero
    // is what any compressor emits; here the bytes are produced by `gzip` when present, else
    // a plain stored member (not a bomb, still not JSON).
    let out = Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            let mut stdin = child.stdin.take().unwrap();
            let writer = std::thread::spawn(move || {
                let zeros = vec![0u8; 1 << 20];
                for _ in 0..n / (1 << 20) {
                    let _ = stdin.write_all(&zeros);
                }
            });
            let out = child.wait_with_output();
            let _ = writer.join();
            out
        });
    match out {
        Ok(o) if o.status.success() => o.stdout,
        _ => b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03not a real member".to_vec(),
    }
}

/// Serves `behaviour` on a loopback port until the test ends.
fn serve(behaviour: Behaviour) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(behaviour, stream));
        }
    });
    addr
}

/// `smartcheck run` of `target` with the reports in `dir`, and the peak resident set of that
/// run in kB, as the run itself reads it (`VmHWM`, in its debug output): a child's rusage
/// counts the pages of this test process copied before the exec, whose servers hold
/// megabytes of answers.
fn run_measured(dir: &std::path::Path, target: &str, args: &[&str]) -> (std::process::Output, i64) {
    let out = common::run_target(
        dir,
        target,
        args,
        &[("SMARTCHECK_LOG", "smartcheck::app=debug")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak = stderr
        .lines()
        .find_map(|l| {
            let (_, rest) = l.split_once("peak resident memory: ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("the run did not say its peak memory:\n{stderr}"));
    (out, peak)
}

fn check(behaviour: Behaviour) {
    let addr = serve(behaviour);
    let dir = tempfile::tempdir().unwrap();
    let scheme = match behaviour {
        Behaviour::TlsExpectedOnPlainPort => "https",
        _ => "http",
    };
    let target = format!(
        "name: hostile\nfhir-base: {scheme}://{addr}/fhir\ntimeouts:\n  connect: 2s\n  request: 2s\n"
    );
    let start = Instant::now();
    let (out, peak) = run_measured(
        dir.path(),
        &target,
        &["--suite", "suites/smart-discovery.yaml"],
    );
    let took = start.elapsed();
    let console = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(took < HANG_LIMIT, "{behaviour:?}: the run took {took:?}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{behaviour:?}: {console}\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{behaviour:?}: {stderr}");
    let json = std::fs::read_to_string(dir.path().join("results.json"))
        .unwrap_or_else(|e| panic!("{behaviour:?}: no results.json: {e}"));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let checks = &report["summary"]["checks"];
    let judged: u64 = ["passed", "failed", "warned", "errored"]
        .iter()
        .map(|k| checks[*k].as_u64().unwrap_or(0))
        .sum();
    assert!(judged > 0, "{behaviour:?}: {checks}");
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("<testsuites"), "{behaviour:?}");
    // The cause, in the JSON report (where every exchange is whole).
    let cause = behaviour.cause();
    assert!(
        json.contains(cause) || console.contains(cause),
        "{behaviour:?}: the reports do not say {cause:?}:\n{console}"
    );
    // No raw control character reaches the console or the JUnit XML.
    for (name, text) in [("console", &console), ("junit", &junit)] {
        let raw = text
            .chars()
            .find(|c| c.is_control() && !matches!(c, '\n' | '\t'));
        assert_eq!(
            raw, None,
            "{behaviour:?}: {name} has a raw control character"
        );
    }
    let limit = match behaviour {
        Behaviour::LargeDocumentUnderTheCap
        | Behaviour::OneLargeStringField
        | Behaviour::LargeTokens => LARGE_ANSWER_LIMIT_KB,
        _ => MEMORY_LIMIT_KB,
    };
    assert!(
        peak < limit,
        "{behaviour:?}: the run took {} MB, more than {} MB",
        peak / 1024,
        limit / 1024
    );
}

macro_rules! behaviours {
    ($($name:ident => $behaviour:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check(Behaviour::$behaviour);
            }
        )*
    };
}

behaviours! {
    a_server_that_never_answers => NeverAnswers,
    a_body_that_stalls_midway => StallsMidBody,
    a_body_that_dribbles_in_slowly => DribblesSlowly,
    a_connection_reset => ResetsTheConnection,
    a_connection_closed_without_answer => ClosesWithoutAnswer,
    a_body_shorter_than_its_length => ShortBody,
    an_answer_that_is_not_http => NotHttp,
    a_body_over_the_size_cap => HugeBody,
    a_large_document_under_the_cap => LargeDocumentUnderTheCap,
    one_large_string_field => OneLargeStringField,
    large_tokens_in_a_document => LargeTokens,
    a_huge_header => HugeHeader,
    two_hundred_header_fields => ManyHeaders,
    a_compressed_bomb => CompressedBomb,
    invalid_json => InvalidJson,
    deeply_nested_json => DeeplyNestedJson,
    a_wrong_content_type => WrongContentType,
    an_empty_body => EmptyBody,
    a_server_error_page => ServerErrorPage,
    a_redirect_loop => RedirectLoop,
    an_off_host_redirect => OffHostRedirect,
    control_characters_in_values => ControlCharacters,
    https_on_a_plain_port => TlsExpectedOnPlainPort,
    invalid_utf8 => InvalidUtf8,
}

/// A run started with SIGHUP ignored (as `nohup` starts it) keeps going when the terminal
/// hangs up, and still ends on SIGTERM with its reports.
#[test]
fn a_hangup_ignored_by_nohup_stays_ignored() {
    use std::os::unix::process::CommandExt;
    let addr = serve(Behaviour::NeverAnswers);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.yaml");
    std::fs::write(
        &target,
        format!("name: hostile\nfhir-base: http://{addr}/fhir\ntimeouts:\n  request: 20s\n"),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smartcheck"));
    cmd.args(["run", "--target"])
        .arg(&target)
        .args(["--suite", "suites/smart-discovery.yaml", "--color", "never"])
        .arg("--report-dir")
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: signal(2) in the child before exec, as nohup does.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signals to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP ended a nohup run"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("results.json").exists());
}

/// A header value with a control character (a token a server issued with a line feed, or a
/// target's own header) is not sent, and the report says which header and why in HTTP's terms
/// rather than the HTTP library's "failed to parse header value".
#[test]
fn a_header_value_with_a_control_character_is_named_and_not_sent() {
    let dir = tempfile::tempdir().unwrap();
    let target = "name: cc\nfhir-base: http://127.0.0.1:9/fhir\nheaders:\n  X-Api-Key: \"abc\\x01def\"\ntimeouts:\n  connect: 1s\n  request: 1s\n";
    let out = common::run_target(
        dir.path(),
        target,
        &["--suite", "suites/smart-discovery.yaml"],
        &[],
    );
    let console = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{console}");
    assert!(
        console.contains("the value of header `X-Api-Key` holds the control character U+0001, which HTTP does not allow in a header (RFC 9110 §5.5)"),
        "{console}"
    );
    assert!(
        !console.contains("failed to parse header value"),
        "{console}"
    );
}
