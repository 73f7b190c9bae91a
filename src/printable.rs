//! Text from outside made safe to print: ids, namespaces, config values and database
//! cells reach a terminal or a log line only through here. Control characters (a newline
//! or NUL in a namespace would forge a line of `status`) and bidirectional formatting
//! characters (a right-to-left override makes an id read as another) are escaped, and a
//! value is cut so that a 10 MB line echoes as a short one.

use std::fmt::Write;

/// How many characters of a value an error message quotes.
pub const QUOTED: usize = 80;

/// `s` in double quotes, escaped, at most `max` characters of it; a cut value says how
/// long it was.
pub fn quoted(s: &str, max: usize) -> String {
    shown(s, max, true)
}

/// `s` escaped and cut like [`quoted`], without the quotes: a line quoted from a file.
pub fn cut(s: &str, max: usize) -> String {
    shown(s, max, false)
}

fn shown(s: &str, max: usize, in_quotes: bool) -> String {
    let mut out = String::new();
    if in_quotes {
        out.push('"');
    }
    let mut chars = s.chars();
    for c in chars.by_ref().take(max) {
        escape_into(&mut out, c, in_quotes);
    }
    if in_quotes {
        out.push('"');
    }
    if chars.next().is_some() {
        let _ = write!(out, "… ({} bytes in all)", s.len());
    }
    out
}

/// A path as text, escaped (a path may hold a newline or a direction override).
pub fn path(path: &std::path::Path) -> String {
    escaped(&path.to_string_lossy())
}

/// `s` escaped, whole: for values already bounded (a namespace is at most 128 characters).
pub fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        escape_into(&mut out, c, false);
    }
    out
}

fn escape_into(out: &mut String, c: char, in_quotes: bool) {
    match c {
        '"' | '\\' if in_quotes => {
            out.push('\\');
            out.push(c);
        }
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        c if c.is_control() || is_bidi_control(c) || is_invisible(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// Characters that take no room on a terminal, so a value holding one reads as another:
/// a byte order mark (an id with one is refused, and must not be echoed as if valid), the
/// zero-width space, joiners, the word joiner and the soft hyphen.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{feff}' | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{00ad}'
    )
}

/// The Unicode characters that change the direction text is shown in.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A count with its noun in the right number: `count(1, "row", "rows")` is "1 row". Every
/// counted noun the program prints goes through here.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invisible_character_is_shown() {
        assert_eq!(quoted("\u{feff}VI1", 80), "\"\\u{feff}VI1\"");
        assert_eq!(escaped("VI\u{200b}1"), "VI\\u{200b}1");
    }

    #[test]
    fn a_count_says_its_noun_in_the_right_number() {
        assert_eq!(count(0u64, "row", "rows"), "0 rows");
        assert_eq!(count(1u64, "row", "rows"), "1 row");
        assert_eq!(count(2u64, "video", "videos"), "2 videos");
    }

    #[test]
    fn controls_and_direction_overrides_are_escaped() {
        assert_eq!(escaped("a\nb\0c"), "a\\nb\\u{0}c");
        assert_eq!(escaped("12\u{202e}34"), "12\\u{202e}34");
        assert_eq!(escaped("näme with spaces"), "näme with spaces");
        assert_eq!(quoted("say \"hi\"", 80), "\"say \\\"hi\\\"\"");
    }

    #[test]
    fn long_values_are_cut_and_say_how_long_they_were() {
        let long = "x".repeat(10_000_000);
        let q = quoted(&long, 80);
        assert!(q.len() < 120, "{}", q.len());
        assert!(q.ends_with("(10000000 bytes in all)"), "{q}");
        assert_eq!(quoted("short", 80), "\"short\"");
    }
}
