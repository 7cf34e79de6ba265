//! What runs, on stderr: a progress bar over the report's steps (drawn only on a terminal;
//! otherwise one line per step).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(super) struct Progress {
    bar: ProgressBar,
    terminal: bool,
}

impl Progress {
    pub(super) fn new(steps: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
        let terminal = !bar.is_hidden();
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {wide_msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        Self { bar, terminal }
    }

    /// Starts the next step.
    pub(super) fn step(&self, what: impl Into<String>) {
        let what = what.into();
        if !self.terminal {
            eprintln!(
                "qtls report: [{}/{}] {what}",
                self.bar.position() + 1,
                self.bar.length().unwrap_or(0)
            );
        }
        self.bar.set_message(what);
    }

    /// Ends the current step.
    pub(super) fn done(&self) {
        self.bar.inc(1);
    }

    /// Prints a line above the bar.
    pub(super) fn note(&self, line: &str) {
        self.bar.suspend(|| eprintln!("qtls report: {line}"));
    }

    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
