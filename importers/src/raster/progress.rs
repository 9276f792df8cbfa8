//! Progress of long work: a bar on a terminal, plain lines otherwise (stderr).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A thread-safe progress counter with a known total.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    total: u64,
    done: AtomicU64,
    /// Last reported tenth (0..=10) for plain output.
    reported: AtomicU64,
    started: Instant,
    quiet: bool,
}

impl Progress {
    /// Starts reporting `label` out of `total`; `quiet` shows nothing.
    pub fn new(label: &str, total: u64, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} tiles ({elapsed}, ~{eta} left)",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label.to_string());
            bar
        });
        Self {
            bar,
            label: label.to_string(),
            total: total.max(1),
            done: AtomicU64::new(0),
            reported: AtomicU64::new(0),
            started: Instant::now(),
            quiet,
        }
    }

    /// Counts `n` more units done.
    pub fn inc(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
            return;
        }
        if self.quiet {
            return;
        }
        let tenth = (done.min(self.total) * 10 / self.total).min(10);
        let before = self.reported.fetch_max(tenth, Ordering::Relaxed);
        if tenth > before {
            eprintln!(
                "{}: {}% ({done}/{} tiles, {:.1}s)",
                self.label,
                tenth * 10,
                self.total,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    /// Ends the display.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
