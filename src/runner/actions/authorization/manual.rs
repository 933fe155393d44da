//! The authorization played by a person at the terminal (`browser.mode: manual`): the URL
//! printed, the URL the browser landed on pasted back.

use super::*;

impl Flow<'_> {
    /// A person at the terminal: print the URL, read the redirect URL back.
    pub(super) async fn manual(
        &self,
        request: &mut AuthorizationRequest,
        launch_uri: &str,
    ) -> Result<FlowOutcome, ActionEnd> {
        let mut outcome = FlowOutcome::default();
        if self.action.launch == LaunchKind::Ehr {
            let launch = manual_ehr_launch(self.run, launch_uri, self.step_id).await?;
            continue_launch(request, &launch, self.action);
            outcome.launch = Some(launch);
        }
        let pasted = prompt(&format!(
            "[{}] Open this URL in a browser, sign in and answer the consent screen:\n  {}\nthen paste the URL you were redirected to:",
            self.step_id,
            request.url()
        ))
        .await
        .map_err(ActionEnd::Error)?;
        outcome.callback = Some(parse_pasted(&pasted));
        Ok(outcome)
    }
}

pub(super) fn parse_pasted(text: &str) -> Callback {
    match url::Url::parse(text.trim()) {
        Ok(u) => Callback::parse(u.path(), u.query()),
        Err(_) => Callback::parse("", Some(text.trim().trim_start_matches('?'))),
    }
}

pub(super) async fn prompt(message: &str) -> Result<String, String> {
    use tokio::io::AsyncReadExt;
    // One person at one terminal: cases running in parallel ask one at a time.
    static TERMINAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = TERMINAL.lock().await;
    // Not `eprintln!`: a closed stderr must not panic the case.
    {
        use std::io::Write;
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{message}");
    }
    // Byte by byte, so that nothing after this line is read ahead and lost for the next prompt.
    let mut stdin = tokio::io::stdin();
    let mut line = Vec::new();
    loop {
        match stdin.read_u8().await {
            Ok(b'\n') => break,
            Ok(b) => line.push(b),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("cannot read the pasted URL: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&line).trim().to_string();
    if line.is_empty() {
        return Err("no URL was pasted".into());
    }
    Ok(line)
}
