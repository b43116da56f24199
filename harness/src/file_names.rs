//! Names from input files that become file and folder names under the
//! reports folder: a target's name, a scenario's id. Checked where they are
//! loaded and again where a path is built from them, so no profile, scenario
//! or shard report can place a file outside the reports folder.

use std::path::{Path, PathBuf};

/// The longest name accepted: well inside any file system's limit, with
/// room for the suffixes the reports add.
pub const NAME_LIMIT: usize = 128;

/// Why a name cannot be a file name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {NAME_LIMIT} characters")]
    TooLong,
    #[error("starts with '.'")]
    Dot,
    #[error("has {0:?}; only letters, digits, '-', '_' and '.' may be used")]
    Character(char),
}

/// Whether `name` can be one path component under the reports folder:
/// ASCII letters, digits, `-`, `_` and `.`, not starting with `.` (so
/// neither `.` nor `..` nor a hidden file), not empty, at most
/// [`NAME_LIMIT`] long.
pub fn check(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > NAME_LIMIT {
        return Err(NameError::TooLong);
    }
    if name.starts_with('.') {
        return Err(NameError::Dot);
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some(c) => Err(NameError::Character(c)),
        None => Ok(()),
    }
}

/// `dir` joined with `name`, once `name` is a safe component.
pub fn join(dir: &Path, name: &str) -> Result<PathBuf, NameError> {
    check(name)?;
    Ok(dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_folder_are_refused() {
        for bad in [
            "", "..", ".", "../../x", "/abs", "a/b", "a\\b", ".hidden", "a\0b", "é",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check(&"a".repeat(NAME_LIMIT + 1)), Err(NameError::TooLong));
        for good in [
            "kea",
            "ALQ-S-16-two-queries",
            "vendor_1.2",
            &"a".repeat(NAME_LIMIT),
        ] {
            assert_eq!(check(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn join_places_a_safe_name_inside_the_folder_only() {
        let dir = Path::new("reports");
        assert_eq!(join(dir, "kea"), Ok(PathBuf::from("reports/kea")));
        assert!(join(dir, "../kea").is_err());
    }
}
