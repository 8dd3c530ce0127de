//! [`RestartBudget`]: a group's restart intensity and failure decay, and the
//! one question they answer: may this restart happen, and when?

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::spec::options::{Decay, Intensity};

/// The restart limits of one group incarnation (a group restarted by its
/// parent starts a fresh budget, so limits multiply across levels as in OTP).
///
/// - **Intensity** (`max` within `within`): a sliding window of restart
///   times; one more than `max` inside it and the group gives up.
/// - **Decay** (suptree/suture): on each restart `f = f·0.5^(Δt/half_life) + 1`;
///   when `f > threshold`, restarts wait until `pause` has passed, then `f`
///   starts again from 0. It never gives up.
#[derive(Debug)]
pub(crate) struct RestartBudget {
    intensity: Intensity,
    decay: Option<Decay>,
    /// Restart times inside the intensity window.
    log: VecDeque<Instant>,
    /// The decayed failure count, and when it was last updated.
    f: f64,
    f_at: Option<Instant>,
    /// Restarts wait until then (a decay pause).
    paused_until: Option<Instant>,
}

/// The budget's answer.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    /// Restart, not before `not_before` when a decay pause is on.
    /// `pause_began` is true for the restart that crossed the threshold.
    Restart {
        not_before: Option<Instant>,
        pause_began: bool,
    },
    /// Past the intensity: the group gives up.
    GiveUp { max: u32, within: Duration },
}

impl RestartBudget {
    pub(crate) fn new(intensity: Intensity, decay: Option<Decay>) -> Self {
        RestartBudget {
            intensity,
            decay,
            log: VecDeque::new(),
            f: 0.0,
            f_at: None,
            paused_until: None,
        }
    }

    /// Counts a restart at `now` and says whether it may happen, and when.
    pub(crate) fn record_restart(&mut self, now: Instant) -> Verdict {
        if let Intensity::Limited { max, within } = self.intensity {
            self.log.push_back(now);
            while self
                .log
                .front()
                .is_some_and(|&t| now.duration_since(t) >= within)
            {
                self.log.pop_front();
            }
            if self.log.len() > max as usize {
                return Verdict::GiveUp { max, within };
            }
        }
        let mut pause_began = false;
        if let Some(d) = self.decay {
            if self.paused_until.is_some_and(|p| now >= p) {
                self.paused_until = None;
                self.f = 0.0;
            }
            let dt = self
                .f_at
                .map_or(0.0, |t| now.duration_since(t).as_secs_f64());
            self.f = self.f * 0.5f64.powf(dt / d.half_life.as_secs_f64()) + 1.0;
            self.f_at = Some(now);
            if self.paused_until.is_none() && self.f > d.threshold {
                self.paused_until = Some(now + d.pause);
                pause_began = true;
            }
        }
        Verdict::Restart {
            not_before: self.paused_until,
            pause_began,
        }
    }

    /// The decayed failure count (for the log line of a pause).
    pub(crate) fn failures(&self) -> f64 {
        self.f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[tokio::test(start_paused = true)]
    async fn intensity_gives_up_past_max_inside_the_window() {
        let mut b = RestartBudget::new(Intensity::new(2, secs(5)), None);
        let t0 = Instant::now();
        assert!(matches!(b.record_restart(t0), Verdict::Restart { .. }));
        assert!(matches!(
            b.record_restart(t0 + secs(1)),
            Verdict::Restart { .. }
        ));
        assert_eq!(
            b.record_restart(t0 + secs(2)),
            Verdict::GiveUp {
                max: 2,
                within: secs(5)
            }
        );
        // Spaced out, the window forgets.
        let mut b = RestartBudget::new(Intensity::new(2, secs(5)), None);
        for k in 0..10 {
            assert!(matches!(
                b.record_restart(t0 + secs(3 * k)),
                Verdict::Restart { .. }
            ));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn decay_pauses_past_the_threshold_and_never_gives_up() {
        let d = Decay::new(secs(60), 2.5, secs(10));
        let mut b = RestartBudget::new(Intensity::Unlimited, Some(d));
        let t0 = Instant::now();
        let v1 = b.record_restart(t0);
        let v2 = b.record_restart(t0);
        assert_eq!(
            v1,
            Verdict::Restart {
                not_before: None,
                pause_began: false
            }
        );
        assert_eq!(
            v2,
            Verdict::Restart {
                not_before: None,
                pause_began: false
            }
        );
        assert_eq!(
            b.record_restart(t0),
            Verdict::Restart {
                not_before: Some(t0 + secs(10)),
                pause_began: true
            }
        );
        assert_eq!(
            b.record_restart(t0 + secs(1)),
            Verdict::Restart {
                not_before: Some(t0 + secs(10)),
                pause_began: false
            }
        );
        // After the pause the count starts again from zero.
        assert_eq!(
            b.record_restart(t0 + secs(10)),
            Verdict::Restart {
                not_before: None,
                pause_began: false
            }
        );
        assert_eq!(b.failures(), 1.0);
    }
}
