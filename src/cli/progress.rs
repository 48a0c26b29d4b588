//! The progress bar of a long render: drawn on stderr when it is a terminal, and nothing at all
//! otherwise (CI logs and pipes get only the summary).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::Progress;

/// Fewer files than this are written too fast for a bar to help.
const MIN_FILES: u64 = 200;

pub(super) struct Bar(ProgressBar);

impl Bar {
    /// A bar on stderr if it is a terminal and the user did not ask for quiet.
    pub fn new(quiet: bool) -> Self {
        let target = if !quiet && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Bar(ProgressBar::with_draw_target(None, target))
    }
}

impl Progress for Bar {
    fn begin(&self, total: u64) {
        if total < MIN_FILES {
            self.0.set_draw_target(ProgressDrawTarget::hidden());
        }
        self.0.set_length(total);
        let style = ProgressStyle::with_template(
            "{spinner} writing {pos}/{len} files (encrypting secrets) [{bar:30}] {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        self.0.set_style(style);
    }

    fn advance(&self) {
        self.0.inc(1);
    }

    fn end(&self) {
        self.0.finish_and_clear();
    }
}
