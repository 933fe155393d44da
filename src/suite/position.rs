//! Where every key and value of a YAML file starts, so that errors found after parsing
//! can still point at `file:line:column`.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A place in a suite or target file (1-based line and column).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Positions by path, written like `cases[0].steps[1].checks[2].json.path`.
#[derive(Debug, Default)]
pub struct PositionIndex {
    keys: HashMap<String, (usize, usize)>,
    values: HashMap<String, (usize, usize)>,
}

impl PositionIndex {
    /// Indexes a YAML text. A text that does not parse yields an empty index (the caller
    /// reports the parse error from the deserializer).
    pub fn build(text: &str) -> Self {
        let mut builder = Builder {
            lines: text.lines().map(str::to_string).collect(),
            ..Builder::default()
        };
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return PositionIndex::default();
        }
        builder.index
    }

    /// The position of the key of a mapping entry, else of the value, else of the closest
    /// enclosing node.
    pub fn key(&self, path: &str) -> (usize, usize) {
        self.keys
            .get(path)
            .or_else(|| self.values.get(path))
            .copied()
            .unwrap_or_else(|| self.parent(path))
    }

    /// The position of a value, else of its key, else of the closest enclosing node.
    pub fn value(&self, path: &str) -> (usize, usize) {
        self.values
            .get(path)
            .or_else(|| self.keys.get(path))
            .copied()
            .unwrap_or_else(|| self.parent(path))
    }

    /// The index of a suite whose cases were expanded (see `variants`): case `j` of the
    /// expanded suite has the positions of case `origin[j]` of the text, so that an error in a
    /// variant points at the line the case was written on.
    pub fn with_cases_from(&self, origin: &[usize]) -> PositionIndex {
        let remap = |map: &HashMap<String, (usize, usize)>| {
            let mut out = HashMap::with_capacity(map.len());
            for (path, pos) in map {
                match case_of(path) {
                    Some((i, rest)) => {
                        for (j, _) in origin.iter().enumerate().filter(|(_, o)| **o == i) {
                            out.insert(format!("cases[{j}]{rest}"), *pos);
                        }
                    }
                    None => {
                        out.insert(path.clone(), *pos);
                    }
                }
            }
            out
        };
        PositionIndex {
            keys: remap(&self.keys),
            values: remap(&self.values),
        }
    }

    fn parent(&self, path: &str) -> (usize, usize) {
        match path.rfind(['.', '[']) {
            Some(cut) => self.key(&path[..cut]),
            None => (1, 1),
        }
    }
}

/// `cases[3].steps` as `(3, ".steps")`; `None` for a path outside the cases.
fn case_of(path: &str) -> Option<(usize, &str)> {
    let rest = path.strip_prefix("cases[")?;
    let close = rest.find(']')?;
    let index = rest[..close].parse().ok()?;
    Some((index, &rest[close + 1..]))
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    index: PositionIndex,
    lines: Vec<String>,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Builder {
    /// The path of the value that starts now, advancing the enclosing sequence.
    fn value_path(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Map { path, key }) => key.take().map(|k| join(path, &k)),
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                Some(p)
            }
        }
    }

    /// The parser's mark for the first key of a block mapping inside a sequence entry can be
    /// off by a column or two; find the key's text on its line, nearest the mark.
    fn key_position(&self, key: &str, (line, col): (usize, usize)) -> (usize, usize) {
        let Some(source) = self.lines.get(line.saturating_sub(1)) else {
            return (line, col);
        };
        let chars: Vec<char> = source.chars().collect();
        let key_chars: Vec<char> = key.chars().collect();
        let starts = |at: usize| chars.get(at..at + key_chars.len()) == Some(&key_chars[..]);
        let at = col.saturating_sub(1);
        (0..=3)
            .flat_map(|d| [at.checked_sub(d), Some(at + d)])
            .flatten()
            .find(|&c| starts(c))
            .map(|c| (line, c + 1))
            .unwrap_or((line, col))
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let pos = (mark.line(), mark.col() + 1);
        match event {
            Event::Scalar(text, ..) if self.expecting_key() => {
                let pos = self.key_position(&text, pos);
                if let Some(Frame::Map { path, key }) = self.stack.last_mut() {
                    // A block mapping starts where its first key does.
                    if !self
                        .index
                        .keys
                        .keys()
                        .any(|k| k.starts_with(path.as_str()) && k.len() > path.len())
                    {
                        self.index.values.insert(path.clone(), pos);
                    }
                    self.index.keys.insert(join(path, &text), pos);
                    *key = Some(text);
                }
            }
            Event::Scalar(..) | Event::Alias(_) => {
                if let Some(p) = self.value_path() {
                    self.index.values.entry(p).or_insert(pos);
                }
            }
            Event::MappingStart(..) => {
                let path = self.value_path().unwrap_or_default();
                self.index.values.entry(path.clone()).or_insert(pos);
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.value_path().unwrap_or_default();
                self.index.values.entry(path.clone()).or_insert(pos);
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_keys_and_values_one_based() {
        let text = "a: 1\nlist:\n  - x: hello\n    y: [1, 2]\n";
        let index = PositionIndex::build(text);
        assert_eq!(index.key("a"), (1, 1));
        assert_eq!(index.value("a"), (1, 4));
        assert_eq!(index.key("list[0].x"), (3, 5));
        assert_eq!(index.value("list[0].x"), (3, 8));
        assert_eq!(index.value("list[0].y[1]"), (4, 12));
        // Unknown paths fall back to the closest parent.
        assert_eq!(index.key("list[0].zzz"), (3, 5));
    }
}
