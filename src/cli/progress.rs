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
        Self::drawn_on(
            quiet,
            std::io::stderr().is_terminal(),
            ProgressDrawTarget::stderr,
        )
    }

    /// A bar drawn on `terminal_target` if stderr is a terminal and not quiet, else nowhere.
    fn drawn_on(
        quiet: bool,
        terminal: bool,
        terminal_target: impl FnOnce() -> ProgressDrawTarget,
    ) -> Self {
        let target = if !quiet && terminal {
            terminal_target()
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::*;

    /// A terminal that keeps what is drawn on it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl Screen {
        fn drawn(&self) -> String {
            self.0.lock().map(|s| s.clone()).unwrap_or_default()
        }
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if let Ok(mut screen) = self.0.lock() {
                screen.push_str(s);
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Writes `files` files through a bar and returns what reached the screen.
    fn write_with_bar(quiet: bool, terminal: bool, files: u64) -> String {
        let screen = Screen::default();
        let target = screen.clone();
        let bar = Bar::drawn_on(quiet, terminal, move || {
            ProgressDrawTarget::term_like(Box::new(target))
        });
        bar.begin(files);
        for _ in 0..files {
            bar.advance();
        }
        bar.end();
        screen.drawn()
    }

    #[test]
    fn a_long_write_on_a_terminal_draws_a_bar() {
        assert!(write_with_bar(false, true, 1_000).contains("files"));
    }

    #[test]
    fn nothing_is_drawn_when_stderr_is_not_a_terminal() {
        assert_eq!(write_with_bar(false, false, 1_000), "");
    }

    #[test]
    fn nothing_is_drawn_when_quiet() {
        assert_eq!(write_with_bar(true, true, 1_000), "");
    }

    #[test]
    fn nothing_is_drawn_for_a_short_write() {
        assert_eq!(write_with_bar(false, true, MIN_FILES - 1), "");
    }
}
