//! Runs the walkthroughs in the README and in docs/ as a user types them:
//! the fenced `sh` blocks of each page, in order, in one bash session (so
//! that a name set in one block is there in the next, as in a terminal).
//!
//! We run the Markdown itself rather than trycmd-style files beside it: the
//! pages are what users follow, and a copy kept elsewhere would drift from
//! them. Outputs shown in comments are not compared (they hold values that
//! change at every run: keys, hashes, times); a command that fails stops
//! the run, naming its block. The info string says how a block runs:
//!
//! - ```` ```sh ````: typed into the user's shell.
//! - ```` ```sh server ```` (or `server=NAME`): a long-running server
//!   started in a terminal of its own (one per NAME, `server` if none):
//!   the session goes on once it printed `listening on …`. A server block
//!   for a terminal that already runs one stops that one first, as Ctrl-C
//!   there would (SIGINT to its process group). Every server is stopped so
//!   at the end.
//! - ```` ```sh stop=NAME ````: typed into the user's shell after Ctrl-C
//!   in the terminal NAME (a page says so in words).
//! - ```` ```sh no-run ````: shown, never run (what a user adapts first, or
//!   what needs hardware).
//!
//! Other languages (`text`, `json`, `rust`) are not run.

use std::fmt::Write as _;
use std::path::Path;

/// How a block runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Shell,
    /// A server, in the terminal of this name.
    Server(String),
}

/// A fenced block to run.
#[derive(Debug, Clone)]
pub struct Block {
    /// `FILE:LINE` of its opening fence.
    pub at: String,
    pub kind: Kind,
    /// Server terminals stopped before it runs.
    pub stops: Vec<String>,
    pub text: String,
}

/// The blocks of `markdown` to run, in order; `name` names the page.
pub fn blocks(name: &str, markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            continue;
        };
        let indent = line.len() - trimmed.len();
        let mut words = info.split_whitespace();
        let language = words.next().unwrap_or("");
        let mut kind = Some(Kind::Shell);
        let mut stops = Vec::new();
        for word in words {
            match word {
                "no-run" => kind = None,
                "server" => kind = Some(Kind::Server("server".into())),
                w => {
                    if let Some(n) = w.strip_prefix("server=") {
                        kind = Some(Kind::Server(n.into()));
                    } else if let Some(n) = w.strip_prefix("stop=") {
                        stops.push(n.to_string());
                    }
                }
            }
        }
        let mut text = String::new();
        for (_, body) in lines.by_ref() {
            if body.trim_start().starts_with("```") {
                break;
            }
            // Blocks inside list items are indented: take the indent off.
            let body = match (body.get(..indent), body.get(indent..)) {
                (Some(pad), Some(rest)) if pad.trim().is_empty() => rest,
                _ => body,
            };
            text.push_str(body);
            text.push('\n');
        }
        if let (true, Some(kind)) = (language == "sh", kind) {
            out.push(Block {
                at: format!("{name}:{}", i + 1),
                kind,
                stops,
                text,
            });
        }
    }
    out
}

/// What the session runs before the first block: the helpers that start
/// and stop server terminals, and the report of where a run stopped.
const PRELUDE: &str = r#"
set -m                       # each server in a process group of its own, as in a terminal
declare -A __servers __cwd
__block=""
__runner="$(mktemp -d)"
__started() {                # NAME PID
    __servers[$1]=$2
    local i
    for i in $(seq 1200); do
        if grep -q '^listening on ' "$__runner/$1.out" 2>/dev/null; then return 0; fi
        if ! kill -0 "$2" 2>/dev/null; then
            echo "docs runner: the server in terminal '$1' exited:" >&2
            cat "$__runner/$1.err" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "docs runner: the server in terminal '$1' did not listen within 120 s" >&2
    cat "$__runner/$1.err" >&2
    return 1
}
__stop() {                   # NAME: Ctrl-C in that terminal, then wait
    local pid=${__servers[$1]:-}
    [ -n "$pid" ] || return 0
    kill -INT -- -"$pid" 2>/dev/null || true
    local i
    for i in $(seq 600); do kill -0 -- -"$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- -"$pid" 2>/dev/null || true
    unset "__servers[$1]"
}
__end() {
    local status=$?
    for n in "${!__servers[@]}"; do __stop "$n"; done
    if [ "$status" != 0 ]; then echo "docs runner: stopped in the block at $__block (exit $status)" >&2; fi
    rm -rf "$__runner"
}
trap __end EXIT
set -e -o pipefail
"#;

/// One bash script that runs `blocks` in order ([module docs](self)).
pub fn script(blocks: &[Block]) -> String {
    let mut s = String::from(PRELUDE);
    for block in blocks {
        let _ = writeln!(s, "__block='{}'", block.at.replace('\'', ""));
        for name in &block.stops {
            let _ = writeln!(s, "__stop '{name}'");
        }
        match &block.kind {
            Kind::Shell => {
                s.push_str(&block.text);
            }
            Kind::Server(name) => {
                // A terminal stays where it was first opened.
                let _ = writeln!(s, "__stop '{name}'\n: \"${{__cwd[{name}]:=$PWD}}\"");
                let _ = writeln!(
                    s,
                    "{{\ncd \"${{__cwd[{name}]}}\"\n{}}} > \"$__runner/{name}.out\" 2> \"$__runner/{name}.err\" < /dev/null &",
                    block.text
                );
                let _ = writeln!(s, "__started '{name}' $!");
            }
        }
        s.push('\n');
    }
    s
}

/// The blocks of the page at `path`, named by its path from `root`.
pub fn page_blocks(root: &Path, path: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(root.join(path))
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    blocks(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_taken_by_their_info_string() {
        let md = "x\n```sh\necho a\n```\n```sh no-run\nrm -rf /\n```\n\
                  ```text\nout\n```\n- item:\n\n  ```sh server=a\n  kms-host run \\\n    --port 1\n  ```\n";
        let b = blocks("p.md", md);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].at, "p.md:2");
        assert_eq!(b[0].text, "echo a\n");
        assert_eq!(b[1].kind, Kind::Server("a".into()));
        assert!(b[1].stops.is_empty());
        assert_eq!(b[1].text, "kms-host run \\\n  --port 1\n");
    }
}
