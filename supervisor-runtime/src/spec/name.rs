//! The name rule and distinguished names.
//!
//! Every node has a distinguished name: its ancestors' names joined with `.`
//! (`app.web.http`). A name is 1–64 characters of `[a-z0-9_-]` (the DSL
//! also excludes `-` from names written in a tree, since they are Rust
//! identifiers there).

use crate::error::Error;

/// Longest name, in characters.
pub(crate) const MAX_NAME: usize = 64;

/// Checks the runtime name rule: 1–64 characters of `[a-z0-9_-]`.
pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::invalid_name(name, "it is empty"));
    }
    if name.len() > MAX_NAME {
        return Err(Error::invalid_name(name, "it is longer than 64 characters"));
    }
    // By byte: every allowed character is ASCII, and a byte of a
    // multi-byte character is never one of them.
    if let Some(at) = name
        .bytes()
        .position(|b| !matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
    {
        let c = name[at..].chars().next().expect("a character starts here");
        return Err(Error::invalid_name(name, &format!("it contains {c:?}")));
    }
    Ok(())
}

/// A node's name as a spec keeps it: borrowed when it is a literal of the
/// program (every name `supervision_tree!` writes), owned otherwise. A
/// literal then costs no allocation to declare, keep or drop.
pub(crate) type Name = std::borrow::Cow<'static, str>;

/// `parent.name`; an empty part is left out (the top of a tree has an empty
/// name, and so has an anonymous spawned group).
pub(crate) fn join_name(parent: &str, name: &str) -> String {
    if name.is_empty() {
        parent.to_owned()
    } else if parent.is_empty() {
        name.to_owned()
    } else {
        let mut s = String::with_capacity(parent.len() + 1 + name.len());
        s.push_str(parent);
        s.push('.');
        s.push_str(name);
        s
    }
}

/// A distinguished name shown without building it: for log lines that may
/// be disabled.
pub(crate) struct Joined<'a>(pub(crate) &'a str, pub(crate) &'a str);

impl std::fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.0.is_empty() {
            f.write_str(self.0)?;
            if !self.1.is_empty() {
                f.write_str(".")?;
            }
        }
        f.write_str(self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        for bad in ["", "A", "a.b", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        // The message names the first character outside the rule, whole.
        let e = check_name("ab\u{e9}c").unwrap_err().to_string();
        assert!(e.contains("'\u{e9}'"), "{e}");
        for good in ["a", "a-b_0", &"x".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn joined_names_leave_out_empty_parts() {
        assert_eq!(join_name("app", "db"), "app.db");
        assert_eq!(join_name("", "app"), "app");
        assert_eq!(join_name("app", ""), "app");
        assert_eq!(Joined("app", "db").to_string(), "app.db");
        assert_eq!(Joined("", "app").to_string(), "app");
    }
}
