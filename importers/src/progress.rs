//! Progress display: an `indicatif` bar when stderr is a terminal, a plain line every
//! two seconds otherwise, nothing when quiet.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

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
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_message(label.to_string());
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
