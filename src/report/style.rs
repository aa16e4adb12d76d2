//! The terminal's one palette. Colour is on when `--color always`, or with
//! `--color auto` (the default) when stderr is a terminal that takes it, as
//! anstream decides: `NO_COLOR` turns it off, `CLICOLOR_FORCE` on, `TERM=dumb`
//! off. Only words wptdeploy writes itself are painted: what a host sends is
//! made visible ([`super::visible`]) before it is placed between them.

use anstyle::{AnsiColor, Effects, Style};

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// When stderr is a terminal that takes colour, and `NO_COLOR` is unset.
    Auto,
    /// Always (`CLICOLOR_FORCE` does the same for `auto`).
    Always,
    /// Never.
    Never,
}

/// Whether the words wptdeploy writes on stderr are painted: decided once,
/// from `--color` and the terminal, and handed to whatever writes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Palette {
    on: bool,
}

impl Palette {
    /// What `--color` asks for on this stderr.
    pub fn choose(when: ColorWhen) -> Palette {
        let on = match when {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
            }
        };
        Palette { on }
    }

    /// `text` in `tone`'s colour when colour is on, else as it is.
    pub fn paint(self, tone: Tone, text: &str) -> String {
        painted(self.on, tone, text)
    }

    /// `line` with `word`, where it first follows `anchor`, painted (`line`
    /// is already made visible: only the word gains escapes).
    pub fn paint_after(self, line: &str, anchor: &str, word: &str, tone: Tone) -> String {
        paint_after_if(self.on, line, anchor, word, tone)
    }
}

/// What a painted word means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Done, nothing to worry about (`ok`, `deployed`).
    Good,
    /// Changed something (`changed`).
    Changed,
    /// Did nothing, by design (`skipped`, `not started`).
    Quiet,
    /// Went wrong (`FAILED`, `error:`).
    Bad,
    /// Went wrong and was put back (`ROLLED BACK`), or needs a look (`warning:`).
    Caution,
    /// Advice (`hint:`).
    Hint,
}

impl Tone {
    fn style(self) -> Style {
        match self {
            Tone::Good => AnsiColor::Green.on_default(),
            Tone::Changed => AnsiColor::Yellow.on_default(),
            Tone::Quiet => Style::new().effects(Effects::DIMMED),
            Tone::Bad => AnsiColor::Red.on_default().effects(Effects::BOLD),
            Tone::Caution => AnsiColor::Yellow.on_default().effects(Effects::BOLD),
            Tone::Hint => AnsiColor::Cyan.on_default(),
        }
    }
}

fn painted(on: bool, tone: Tone, text: &str) -> String {
    if on {
        let style = tone.style();
        format!("{}{text}{}", style.render(), style.render_reset())
    } else {
        text.to_owned()
    }
}

fn paint_after_if(on: bool, line: &str, anchor: &str, word: &str, tone: Tone) -> String {
    match line.find(&format!("{anchor}{word}")) {
        Some(at) if on => {
            let start = at + anchor.len();
            let end = start + word.len();
            format!(
                "{}{}{}",
                &line[..start],
                painted(on, tone, word),
                &line[end..]
            )
        }
        _ => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn painted_only_when_on_and_only_the_word() {
        assert_eq!(painted(false, Tone::Bad, "FAILED"), "FAILED");
        assert_eq!(
            painted(true, Tone::Bad, "FAILED"),
            "\u{1b}[1m\u{1b}[31mFAILED\u{1b}[0m"
        );
        let line = "[changed] 3/9 changed build (1.2s): changed";
        assert_eq!(
            paint_after_if(true, line, "/9 ", "changed", Tone::Changed),
            "[changed] 3/9 \u{1b}[33mchanged\u{1b}[0m build (1.2s): changed"
        );
        assert_eq!(
            paint_after_if(false, line, "/9 ", "changed", Tone::Changed),
            line
        );
        assert_eq!(paint_after_if(true, line, "/9 ", "FAILED", Tone::Bad), line);
    }
}
