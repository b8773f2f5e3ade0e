//! `jitld check`'s command line, in llvm-jitlink's spellings: one dash or two, values after
//! `=` or as the next argument, `-L`/`-l`/`-hidden-l` also glued to their value
//! (`-L/usr/lib`, `-lm`). A flag llvm-jitlink does not have (or we do not) is an error.

use crate::cli::InputArg;

#[derive(Debug, Default)]
pub struct CheckArgs {
    pub noexec: bool,
    pub checks: Vec<String>,
    pub check_name: Option<String>,
    pub absolutes: Vec<(String, u64)>,
    pub entry: Option<String>,
    pub slab_size: Option<u64>,
    pub slab_address: Option<u64>,
    pub slab_page_size: Option<u64>,
    pub search: Vec<String>,
    /// Objects, archives, `-l`, `-hidden-l` and `-jd`, in command-line order.
    pub ordered: Vec<InputArg>,
    pub phony_externals: bool,
    pub sectcreate: Vec<String>,
    /// `-show-graphs[=REGEX]`: print the graphs whose names match, after fix-ups.
    pub show_graphs: Option<String>,
    /// Arguments for the program, after `-args` or `--`.
    pub program_args: Vec<String>,
    pub help: bool,
}

pub const USAGE: &str = "\
usage: jitld check [flags] inputs... [-args program arguments...]

Links the inputs as llvm-jitlink does and evaluates the `# jitlink-check:` rules of each
-check file against the linked memory; then, without -noexec, runs the entry.

  -check FILE            evaluate FILE's rules (repeatable)
  -check-name NAME       rules are lines starting with `# NAME:` (default jitlink-check)
  -noexec                link only; never run code
  -entry NAME            the function to run (default main)
  -abs NAME=ADDR         define NAME as the absolute address ADDR
  -slab-allocate SIZE    with -noexec: a slab of SIZE (Kb, Mb or Gb; default Kb)
  -slab-address ADDR     with -noexec and -slab-allocate: place the slab at ADDR
  -slab-page-size SIZE   with -slab-allocate: the page size (4096)
  -L DIR, -lNAME         library search directory; library to link against
  -hidden-lNAME          static library NAME (an archive only), its symbols hidden in its JITDylib
  -load_hidden FILE      the archive FILE, its symbols hidden in its JITDylib
  -jd NAME               inputs after this go into JITDylib NAME
  -phony-externals       undefined externals resolve to address 0
  -sectcreate SECT,FILE[@SYM=OFF,...]
                         a read-only section SECT holding FILE's bytes, with symbols
  -show-graphs[=REGEX]   print the link graphs whose names match, after fix-ups
";

/// Parses `args` (the words after `check`).
pub fn parse(args: &[String]) -> Result<CheckArgs, String> {
    let mut parsed = CheckArgs::default();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if word == "--" || word == "-args" || word == "--args" {
            parsed.program_args.extend(words.by_ref().cloned());
            break;
        }
        let Some(flag) = word.strip_prefix("--").or_else(|| word.strip_prefix('-')).filter(|f| !f.is_empty()) else {
            parsed.ordered.push(InputArg::Path(word.clone()));
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (flag, None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline.clone().or_else(|| words.next().cloned()).ok_or_else(|| format!("-{name} needs {what}"))
        };
        match name {
            "noexec" => parsed.noexec = true,
            "phony-externals" => parsed.phony_externals = true,
            "help" | "h" => parsed.help = true,
            "show-graphs" => parsed.show_graphs = Some(inline.unwrap_or_default()),
            "check" => parsed.checks.push(value("a check file")?),
            "check-name" => parsed.check_name = Some(value("a name")?),
            "entry" => parsed.entry = Some(value("a symbol name")?),
            "abs" => parsed.absolutes.push(absolute(&value("NAME=ADDR")?)?),
            "slab-allocate" => parsed.slab_size = Some(slab_size(&value("a size")?)?),
            "slab-address" => parsed.slab_address = Some(number(&value("an address")?)?),
            "slab-page-size" => parsed.slab_page_size = Some(number(&value("a size")?)?),
            "jd" => parsed.ordered.push(InputArg::Dylib(value("a JITDylib name")?)),
            "sectcreate" => parsed.sectcreate.push(value("SECTION,FILE")?),
            "L" => parsed.search.push(value("a directory")?),
            "l" => parsed.ordered.push(InputArg::Library(value("a library name")?)),
            "hidden-l" => parsed.ordered.push(hidden(InputArg::Library(archive_only(&value("a library name")?)))),
            "load_hidden" => parsed.ordered.push(hidden(InputArg::Path(value("an archive")?))),
            _ => {
                if let Some(dir) = name.strip_prefix('L') {
                    parsed.search.push(glued(dir, inline.as_deref()));
                } else if let Some(library) = name.strip_prefix("hidden-l") {
                    parsed.ordered.push(hidden(InputArg::Library(archive_only(&glued(library, inline.as_deref())))));
                } else if let Some(library) = name.strip_prefix('l') {
                    parsed.ordered.push(InputArg::Library(glued(library, inline.as_deref())));
                } else {
                    return Err(format!("unknown flag '{word}' (see jitld check -help)"));
                }
            }
        }
    }
    Ok(parsed)
}

/// `-lfoo=bar` is the library `foo=bar`: only the glued forms reach here.
fn glued(head: &str, tail: Option<&str>) -> String {
    match tail {
        Some(tail) => format!("{head}={tail}"),
        None => head.to_string(),
    }
}

fn hidden(archive: InputArg) -> InputArg {
    InputArg::HiddenArchive(Box::new(archive))
}

/// `-hidden-lNAME` links the archive `libNAME.a` only (`-l:FILE` names a file exactly).
fn archive_only(name: &str) -> String {
    format!(":lib{name}.a")
}

/// An unsigned number as LLVM reads one: `0x` hexadecimal, `0` octal, else decimal.
pub fn number(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let parsed = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16)
    } else if text.len() > 1 && text.starts_with('0') {
        u64::from_str_radix(&text[1..], 8)
    } else {
        text.parse()
    };
    parsed.map_err(|e| format!("not a number: '{text}' ({e})"))
}

fn absolute(text: &str) -> Result<(String, u64), String> {
    let (name, addr) = text.split_once('=').ok_or_else(|| format!("-abs {text}: expected NAME=ADDR"))?;
    let addr = number(addr).map_err(|e| format!("-abs {text}: {e}"))?;
    Ok((name.trim().to_string(), addr))
}

/// `100Kb`, `2Mb`, `1Gb`, or a plain number of kilobytes, as llvm-jitlink reads them.
fn slab_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let (digits, unit) = match lower.len().checked_sub(2).map(|n| lower.split_at(n)) {
        Some((digits, "kb")) => (digits, 1 << 10),
        Some((digits, "mb")) => (digits, 1 << 20),
        Some((digits, "gb")) => (digits, 1 << 30),
        _ => (lower.as_str(), 1 << 10),
    };
    let count: u64 = digits.trim_end().parse().map_err(|_| format!("-slab-allocate {text}: not a size"))?;
    count.checked_mul(unit).ok_or_else(|| format!("-slab-allocate {text}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &str) -> Result<CheckArgs, String> {
        parse(&words.split_whitespace().map(str::to_string).collect::<Vec<_>>())
    }

    #[test]
    fn llvm_spellings_with_one_or_two_dashes() {
        let args = parse_words(
            "--check=t.s -noexec -slab-allocate 100Kb -slab-address 0xfff00000 --slab-page-size=4096 \
             -abs ext=0x1 -check u.s -L/lib -lm -hidden-lfoo -jd other b.o -phony-externals -show-graphs a.o",
        )
        .expect("parses");
        assert!(args.noexec && args.phony_externals);
        assert_eq!(args.checks, ["t.s", "u.s"]);
        assert_eq!(args.slab_size, Some(100 * 1024));
        assert_eq!(args.slab_address, Some(0xfff0_0000));
        assert_eq!(args.slab_page_size, Some(4096));
        assert_eq!(args.absolutes, [("ext".to_string(), 1)]);
        assert_eq!(args.search, ["/lib"]);
        assert_eq!(args.show_graphs.as_deref(), Some(""));
        let ordered: Vec<String> = args.ordered.iter().map(|i| format!("{i:?}")).collect();
        assert_eq!(ordered.len(), 5, "{ordered:?}");
        assert!(ordered[1].contains(":libfoo.a"), "{ordered:?}");
    }

    #[test]
    fn unknown_flags_and_missing_values_are_errors() {
        assert!(parse_words("-frobnicate a.o").unwrap_err().contains("unknown flag '-frobnicate'"));
        assert!(parse_words("a.o -check").unwrap_err().contains("-check needs"));
        assert!(parse_words("-slab-allocate lots a.o").is_err());
        assert!(parse_words("-abs nope a.o").is_err());
    }

    #[test]
    fn sizes_and_numbers() {
        assert_eq!(slab_size("2Mb"), Ok(2 << 20));
        assert_eq!(slab_size("16"), Ok(16 << 10));
        assert_eq!(number("010"), Ok(8));
        assert_eq!(number("0x10"), Ok(16));
        let args = parse_words("a.o -args x -y").expect("parses");
        assert_eq!(args.program_args, ["x", "-y"]);
    }
}
