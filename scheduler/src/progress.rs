//! Progress on stderr for long commands (`fornax wait`, `fornax bench …`): bars redrawn in
//! place on a terminal (`indicatif`), and on anything else (a pipe, a CI log) one plain line
//! per change, so that logs stay readable.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A set of progress bars, one per thing followed.
pub struct Progress {
    multi: Option<MultiProgress>,
}

/// One followed thing: its position out of a length, and a short state.
pub struct Bar {
    bar: Option<ProgressBar>,
    name: String,
    shown: String,
}

impl Progress {
    /// Bars on stderr when it is a terminal, plain lines otherwise.
    pub fn new() -> Progress {
        let tty = std::io::stderr().is_terminal();
        Progress {
            multi: tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// A bar named `name` (a task id, a benchmark step) of `len` steps.
    pub fn bar(&self, name: &str, len: u64) -> Bar {
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(len));
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:20}] {pos:>3}/{len:<3} {msg}")
                    .expect("a valid template")
                    .progress_chars("#>-"),
            );
            bar.set_prefix(name.to_string());
            bar
        });
        Bar {
            bar,
            name: name.to_string(),
            shown: String::new(),
        }
    }
}

impl Bar {
    /// Moves to `done` of `len` with the state `state`. Without a terminal, a line
    /// `NAME: STATE` is printed when the state changes.
    pub fn set(&mut self, done: u64, len: u64, state: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(len.max(1));
                bar.set_position(done.min(len.max(1)));
                bar.set_message(state.to_string());
            }
            None => {
                if self.shown != state {
                    eprintln!("{}: {state}", self.name);
                    self.shown = state.to_string();
                }
            }
        }
    }

    /// One more step done, with the state `state`.
    pub fn step(&mut self, state: &str) {
        let (done, len) = match &self.bar {
            Some(bar) => (bar.position() + 1, bar.length().unwrap_or(1)),
            None => (0, 0),
        };
        match &self.bar {
            Some(_) => self.set(done, len, state),
            None => {
                eprintln!("{}: {state}", self.name);
                self.shown = state.to_string();
            }
        }
    }

    /// Leaves the bar drawn, full, with its final state.
    pub fn finish(&mut self, state: &str) {
        match &self.bar {
            Some(bar) => {
                if let Some(len) = bar.length() {
                    bar.set_position(len);
                }
                bar.finish_with_message(state.to_string());
            }
            None => self.set(0, 0, state),
        }
    }
}
