//! Loading TOML files into serde types with errors that name the file, line and
//! column on one line.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot read {}: not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("cannot read {}: larger than the {} KiB an input file may be", path.display(), INPUT_LIMIT / 1024)]
    TooLarge { path: PathBuf },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// Line and column (both from 1) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let upto = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = upto.matches('\n').count() + 1;
    let column = upto.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Levenshtein distance, for suggesting the closest valid key.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let above = row.get(j + 1).copied().unwrap_or(usize::MAX);
            let left = row.get(j).copied().unwrap_or(usize::MAX);
            let value = (above.saturating_add(1))
                .min(left.saturating_add(1))
                .min(prev + cost);
            prev = above;
            if let Some(slot) = row.get_mut(j + 1) {
                *slot = value;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown
/// variant"), the valid name closest to the unknown one.
pub fn closest_name(message: &str) -> Option<String> {
    let mut names = message.split('`').skip(1).step_by(2);
    let unknown = names.next()?;
    names
        .map(|n| (edit_distance(unknown, n), n))
        .filter(|(d, n)| *d <= n.len().max(unknown.len()) / 2 + 1)
        .min()
        .map(|(_, n)| n.to_string())
}

/// Parses `text` (read from `path`) as `T`.
pub fn parse_toml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, LoadError> {
    toml::from_str(text).map_err(|e| {
        let start = e.span().map_or(0, |s| s.start);
        // An unknown key inside a table is reported at the table's header:
        // point at the key's own line instead.
        let start = unknown_key(e.message())
            .and_then(|key| key_line(text, start, key))
            .unwrap_or(start);
        let (line, column) = if e.span().is_some() {
            line_column(text, start)
        } else {
            (1, 1)
        };
        let mut message = e.message().trim().replace('\n', "; ");
        if let Some(name) = closest_name(&message) {
            message = format!("{message}; did you mean `{name}`?");
        }
        LoadError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    })
}

/// The key serde's "unknown field `key`" message names.
fn unknown_key(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field `")?.split('`').next()
}

/// Where the line that sets `key` begins in the table whose header or first
/// key is at `start` (up to the next table's header; 0 for a top-level key).
pub(crate) fn key_line(text: &str, start: usize, key: &str) -> Option<usize> {
    let table = text.get(start..)?;
    let mut offset = start;
    for (i, line) in table.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        if i > 0 && trimmed.starts_with('[') {
            return None;
        }
        let quoted = format!("\"{key}\"");
        let rest = trimmed
            .strip_prefix(key)
            .or_else(|| trimmed.strip_prefix(quoted.as_str()));
        if rest.is_some_and(|r| matches!(r.trim_start().chars().next(), Some('=' | '.'))) {
            return Some(offset + (line.len() - trimmed.len()));
        }
        offset += line.len();
    }
    None
}

/// The most a scenario, profile, configuration or expectations file may
/// hold: the largest real one is a few KiB.
pub const INPUT_LIMIT: u64 = 1024 * 1024;

/// Reads an input file as text: a regular file (a link to one is fine) of
/// at most [`INPUT_LIMIT`] bytes. A device, a FIFO or a file that grows
/// while it is read is refused, never read without end.
pub fn read_input(path: &Path) -> Result<String, LoadError> {
    use std::io::Read;
    let read = |error| LoadError::Read {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let meta = file.metadata().map_err(read)?;
    if !meta.is_file() {
        return Err(LoadError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > INPUT_LIMIT {
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let mut text = String::new();
    file.take(INPUT_LIMIT + 1)
        .read_to_string(&mut text)
        .map_err(read)?;
    if text.len() as u64 > INPUT_LIMIT {
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(text)
}

/// Reads and parses a TOML file.
pub fn load_toml<T: DeserializeOwned>(path: &Path) -> Result<T, LoadError> {
    let text = read_input(path)?;
    parse_toml(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Example {
        name: String,
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let err = parse_toml::<Example>(Path::new("x.toml"), "name = \"a\"\n  nmae = \"b\"\n")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("x.toml:2:3: "), "{text}");
        assert!(text.contains("nmae"), "{text}");
        assert!(text.ends_with("did you mean `name`?"), "{text}");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn closest_name_picks_the_nearest_valid_key() {
        let msg = "unknown field `listn`, expected one of `listen`, `dhcp`, `mode`";
        assert_eq!(closest_name(msg).as_deref(), Some("listen"));
        assert_eq!(
            closest_name("unknown field `zzzzzzzz`, expected `mode`"),
            None
        );
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn an_input_that_is_no_regular_file_or_too_large_is_refused_unread() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let zero = dir.path().join("zero.toml");
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("a link");
        let err = read_input(&zero).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err(format!(
                "cannot read {}: not a regular file",
                zero.display()
            ))
        );
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; INPUT_LIMIT as usize + 1]).expect("written");
        assert!(matches!(read_input(&big), Err(LoadError::TooLarge { .. })));
        let fits = dir.path().join("fits.toml");
        std::fs::write(&fits, vec![b'#'; INPUT_LIMIT as usize]).expect("written");
        assert_eq!(
            read_input(&fits).map(|t| t.len()).ok(),
            Some(INPUT_LIMIT as usize)
        );
    }
}
