//! `.drectve`: the linker options a COFF object carries (`#pragma comment(linker, ...)`,
//! `__declspec(dllexport)`, MSVC's default libraries). What a JIT link can honour it does:
//! `/alternatename:a=b` (references to an undefined `a` go to `b`) and `/include:sym`
//! (linking the object links `sym`). `/export:` is recorded; `/defaultlib:` and `/merge:`
//! are returned to be reported (jitld links what it is given and lays out no image) and are
//! otherwise ignored; the bookkeeping ones MSVC writes are accepted silently; anything else
//! is returned as unknown, for a warning.

#[derive(Default, Debug, PartialEq, Eq)]
pub struct Directives {
    /// `(a, b)`: an undefined `a` means `b`.
    pub alternate_names: Vec<(String, String)>,
    /// Symbols linking this object must link.
    pub includes: Vec<String>,
    pub exports: Vec<String>,
    /// `-aligncomm:name,n` (what MinGW toolchains write for an aligned common): the common
    /// symbol `name` needs 2^n alignment.
    pub common_alignments: Vec<(String, u32)>,
    /// Directives jitld understands and does not follow, as written: libraries to search
    /// (`/defaultlib:`) and sections to merge (`/merge:`).
    pub ignored: Vec<String>,
    /// Directives jitld does not know.
    pub unknown: Vec<String>,
}

/// Accepted silently: checks and hints for MSVC's linker, and image settings that mean
/// nothing to code linked into a running process.
const BOOKKEEPING: &[&str] = &[
    "nodefaultlib",
    "failifmismatch",
    "editandcontinue",
    "guardsym",
    "disallowlib",
    "throwingnew",
    "manifestdependency",
    "stack",
    "heap",
    "section",
    "subsystem",
    "entry",
];

/// Splits on spaces outside double quotes, dropping the quotes.
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut word, mut quoted) = (String::new(), false);
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' | '\t' | '\r' | '\n' | '\0' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

pub fn parse(text: &str) -> Directives {
    let mut directives = Directives::default();
    for word in words(text) {
        let Some(body) = word.strip_prefix('/').or_else(|| word.strip_prefix('-')) else {
            directives.unknown.push(word);
            continue;
        };
        let (name, value) = body.split_once(':').unwrap_or((body, ""));
        match name.to_ascii_lowercase().as_str() {
            "alternatename" => match value.split_once('=') {
                Some((from, to)) => directives.alternate_names.push((from.to_string(), to.to_string())),
                None => directives.unknown.push(word.clone()),
            },
            "include" => directives.includes.push(value.to_string()),
            "aligncomm" => match value.rsplit_once(',').map(|(n, log2)| (n, log2.parse::<u32>())) {
                Some((name, Ok(log2))) => directives.common_alignments.push((name.to_string(), log2)),
                _ => directives.unknown.push(word.clone()),
            },
            "export" => directives.exports.push(value.split(',').next().unwrap_or(value).to_string()),
            // Libraries to search (the command line says what to link) and section merging
            // (no image is laid out): a program that counts on them should hear of it.
            "defaultlib" | "merge" => directives.ignored.push(word.clone()),
            lower if BOOKKEEPING.contains(&lower) => {}
            _ => directives.unknown.push(word.clone()),
        }
    }
    directives
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_compilers_write() {
        let text = " /DEFAULTLIB:\"LIBCMT\" /alternatename:wanted=fallback /include:forced \
                    -export:f,DATA /FAILIFMISMATCH:\"_MSC_VER=1900\" /frobnicate /merge:.rdata=.text \
                    /alternatename:broken /nodefaultlib:oldnames -aligncomm:\"big\",5 -aligncomm:bad";
        let d = parse(text);
        assert_eq!(d.ignored, ["/DEFAULTLIB:LIBCMT", "/merge:.rdata=.text"]);
        assert_eq!(d.alternate_names, [("wanted".to_string(), "fallback".to_string())]);
        assert_eq!(d.includes, ["forced"]);
        assert_eq!(d.exports, ["f"]);
        assert_eq!(d.unknown, ["/frobnicate", "/alternatename:broken", "-aligncomm:bad"]);
        assert_eq!(d.common_alignments, [("big".to_string(), 5)]);
        assert_eq!(parse("plain"), Directives { unknown: vec!["plain".into()], ..Directives::default() });
    }
}
