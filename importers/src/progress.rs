//! Progress display on stderr: an `indicatif` bar when stderr is a terminal, plain
//! lines otherwise, nothing when quiet.
//!
//! - [`Progress`]: features of a vector import, read from the import's counters (a
//!   line every two seconds).
//! - [`TileProgress`]: tiles of a raster import or an archive export, counted by the
//!   workers (a line at each tenth).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::control::Counters;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar (stderr is a terminal).
    Bar,
    /// A line on stderr every ~2 s.
    Lines,
    /// Nothing.
    Quiet,
}

impl ProgressMode {
    /// `Bar` on a terminal, `Lines` otherwise.
    pub fn detect() -> ProgressMode {
        if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        }
    }
}

/// A running progress display for one layer; stops when dropped or finished.
pub struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts showing the progress of `label` (`total` features when known).
    pub fn start(
        mode: ProgressMode,
        label: &str,
        total: Option<u64>,
        counters: Arc<Counters>,
    ) -> Progress {
        let started = Instant::now();
        match mode {
            ProgressMode::Quiet => Progress {
                task: None,
                bar: None,
            },
            ProgressMode::Bar => {
                let bar = match total {
                    Some(n) => ProgressBar::new(n),
                    None => ProgressBar::new_spinner(),
                };
                // Layers written at the same time get a line each.
                static BARS: std::sync::OnceLock<MultiProgress> = std::sync::OnceLock::new();
                let bar = BARS.get_or_init(MultiProgress::new).add(bar);
                let template = if total.is_some() {
                    "{spinner} {msg} [{bar:30}] {pos}/{len} features ({elapsed}, eta {eta})"
                } else {
                    "{spinner} {msg} {pos} features ({elapsed})"
                };
                style(&bar, template, label);
                let b = bar.clone();
                let task = tokio::spawn(async move {
                    loop {
                        b.set_position(Counters::get(&counters.read));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                });
                Progress {
                    task: Some(task),
                    bar: Some(bar),
                }
            }
            ProgressMode::Lines => {
                let label = label.to_string();
                let task = tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        let read = Counters::get(&counters.read);
                        let written = Counters::get(&counters.written);
                        let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
                        eprintln!(
                            "citygrid: {label}: {read}{of} features read, {written} rows written ({:.0} s)",
                            started.elapsed().as_secs_f64()
                        );
                    }
                });
                Progress {
                    task: Some(task),
                    bar: None,
                }
            }
        }
    }

    /// Stops the display.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Gives `bar` the common look: `template`, `=> ` progress characters, `label`.
fn style(bar: &ProgressBar, template: &str, label: &str) {
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_string());
}

/// A thread-safe count of tiles done out of a known total.
pub struct TileProgress {
    bar: Option<ProgressBar>,
    label: String,
    total: u64,
    done: AtomicU64,
    /// Last reported tenth (0..=10) for plain output.
    reported: AtomicU64,
    started: Instant,
    quiet: bool,
}

impl TileProgress {
    /// Starts reporting `label` out of `total`; `quiet` shows nothing.
    pub fn new(label: &str, total: u64, quiet: bool) -> Self {
        let mode = if quiet {
            ProgressMode::Quiet
        } else {
            ProgressMode::detect()
        };
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            style(
                &bar,
                "{msg} [{bar:40}] {pos}/{len} tiles ({elapsed}, ~{eta} left)",
                label,
            );
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

    /// Counts `n` more tiles done.
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
