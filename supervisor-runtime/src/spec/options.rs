//! Policies: what a group does when a child ends, and how long things may take.
//!
//! Every type here is a plain value with the defaults of the design contract
//! documented on it; the builder ([`Group`](crate::Group),
//! [`Child`](crate::Child)) and the `supervision_tree!` macro both set them.

use std::time::Duration;

/// Which siblings restart together when a child fails (Erlang/OTP strategies).
///
/// Default: [`RestForOne`](Strategy::RestForOne) for sequential groups,
/// [`OneForOne`](Strategy::OneForOne) for parallel groups.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Only the child that ended restarts.
    OneForOne,
    /// Every child of the group is stopped (in stop order) and started again
    /// (in start order).
    OneForAll,
    /// The child that ended and every child started after it restart: in a
    /// sequential group the later siblings, in a parallel group the siblings
    /// that depend on it through `after` edges, transitively.
    RestForOne,
}

/// Which endings of a child restart it (Erlang/OTP restart types).
///
/// Default: [`Permanent`](Restart::Permanent).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Restart {
    /// Restarted after any ending except a requested stop, `ctx.done()` or
    /// [`DoNotRestart`](crate::DoNotRestart).
    #[default]
    Permanent,
    /// Restarted only after a failure (`Err` or a panic).
    Transient,
    /// Never restarted, not even when a sibling's failure restarts its group.
    Temporary,
}

/// When a group ends because of its significant children (Erlang/OTP 24
/// `auto_shutdown`). A child is significant when it is marked so (only a
/// transient or temporary child may be).
///
/// Default: [`Never`](AutoShutdown::Never).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum AutoShutdown {
    /// Significant children end like any other; the group goes on.
    #[default]
    Never,
    /// When any significant child has ended for good, the group stops its
    /// other children in stop order and ends; its parent treats that as a
    /// normal ending.
    AnySignificant,
    /// The same, once every significant child has ended for good.
    AllSignificant,
}

/// Restart intensity of a group: more than `max` restarts within `within`
/// and the group gives up — it stops all its children and fails to its parent.
///
/// Default: `max = 3, within = 5s`; [`Unlimited`](Intensity::Unlimited) when the
/// group uses [`Decay`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Intensity {
    /// At most `max` restarts inside any window of length `within`.
    /// `max = 0` gives up on the first failure.
    Limited {
        /// Restarts tolerated inside the window.
        max: u32,
        /// Length of the sliding window.
        within: Duration,
    },
    /// Never give up.
    Unlimited,
}

impl Intensity {
    /// `max` restarts tolerated within `within`.
    pub const fn new(max: u32, within: Duration) -> Self {
        Intensity::Limited { max, within }
    }
}

impl Default for Intensity {
    fn default() -> Self {
        Intensity::new(3, Duration::from_secs(5))
    }
}

/// The suptree/suture failure-decay model of a group.
///
/// On each failure of a child, `f = f·0.5^(Δt/half_life) + 1`. When
/// `f > threshold`, restarts of this group's children wait until `pause`
/// has passed, then `f` is reset to 0. Children that are running are left
/// alone, and the group never gives up.
///
/// ```
/// use std::time::Duration;
/// use supervisor_runtime::Decay;
/// let d = Decay::new(Duration::from_secs(30), 3.5, Duration::from_secs(10));
/// assert_eq!(d.threshold, 3.5);
/// ```
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Decay {
    /// Time for the failure count to halve.
    pub half_life: Duration,
    /// Count above which restarts pause.
    pub threshold: f64,
    /// How long restarts wait once the threshold is crossed.
    pub pause: Duration,
}

impl Decay {
    /// A decay policy; see the type's documentation for the formula.
    pub const fn new(half_life: Duration, threshold: f64, pause: Duration) -> Self {
        Decay {
            half_life,
            threshold,
            pause,
        }
    }
}

/// Delay before a child restarts.
///
/// Default: exponential, `initial = 100ms, max = 30s, multiplier = 2,
/// jitter = 0.2`. Restart `n` (counting from 0) waits
/// `min(initial·multiplierⁿ, max)`, spread uniformly over
/// `[d·(1−jitter), d·(1+jitter)]`. The count `n` resets once the child has
/// stayed healthy for `max` (at least one second).
///
/// ```
/// use std::time::Duration;
/// use supervisor_runtime::Backoff;
/// let b = Backoff::exponential().initial(Duration::from_millis(500)).multiplier(1.5);
/// assert_eq!(b.delay_without_jitter(1), Duration::from_millis(750));
/// ```
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Backoff {
    /// `min(initial·multiplierⁿ, max)` with uniform jitter.
    Exponential {
        /// First delay.
        initial: Duration,
        /// Largest delay; also how long a child must stay healthy for the count to reset.
        max: Duration,
        /// Growth factor per restart.
        multiplier: f64,
        /// Relative spread, `0.0..=1.0`.
        jitter: f64,
    },
    /// Always the same delay.
    Fixed(Duration),
    /// Restart at once.
    None,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::exponential()
    }
}

impl Backoff {
    /// The default exponential backoff; refine it with the setters.
    pub const fn exponential() -> Self {
        Backoff::Exponential {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }

    /// Sets `initial` (turns a fixed or no backoff into the default exponential first).
    pub fn initial(self, d: Duration) -> Self {
        self.with(|i, _, _, _| *i = d)
    }

    /// Sets `max`.
    pub fn max(self, d: Duration) -> Self {
        self.with(|_, m, _, _| *m = d)
    }

    /// Sets `multiplier`.
    pub fn multiplier(self, f: f64) -> Self {
        self.with(|_, _, m, _| *m = f)
    }

    /// Sets `jitter`, clamped to `0.0..=1.0`.
    pub fn jitter(self, f: f64) -> Self {
        self.with(|_, _, _, j| *j = f.clamp(0.0, 1.0))
    }

    fn with(self, f: impl FnOnce(&mut Duration, &mut Duration, &mut f64, &mut f64)) -> Self {
        let mut b = match self {
            b @ Backoff::Exponential { .. } => b,
            _ => Backoff::exponential(),
        };
        if let Backoff::Exponential {
            initial,
            max,
            multiplier,
            jitter,
        } = &mut b
        {
            f(initial, max, multiplier, jitter);
        }
        b
    }

    /// The delay before restart `n` (0-based), before jitter is applied.
    pub fn delay_without_jitter(&self, n: u32) -> Duration {
        match *self {
            Backoff::Exponential {
                initial,
                max,
                multiplier,
                ..
            } => {
                let f = multiplier.max(1.0).powi(n.min(1_000) as i32);
                let secs = (initial.as_secs_f64() * f).min(max.as_secs_f64());
                if secs.is_finite() {
                    Duration::from_secs_f64(secs.max(0.0))
                } else {
                    max
                }
            }
            Backoff::Fixed(d) => d,
            Backoff::None => Duration::ZERO,
        }
    }

    /// The delay before restart `n`, with jitter drawn uniformly.
    pub fn delay(&self, n: u32) -> Duration {
        let d = self.delay_without_jitter(n);
        match *self {
            Backoff::Exponential { jitter, .. } if jitter > 0.0 && !d.is_zero() => {
                let spread = (fastrand::f64() * 2.0 - 1.0) * jitter;
                Duration::from_secs_f64((d.as_secs_f64() * (1.0 + spread)).max(0.0))
            }
            _ => d,
        }
    }

    /// How long a child must stay healthy for its restart count to reset:
    /// `max` for exponential backoff, the delay for fixed, never below one second.
    pub fn reset_after(&self) -> Duration {
        let d = match *self {
            Backoff::Exponential { max, .. } => max,
            Backoff::Fixed(d) => d,
            Backoff::None => Duration::ZERO,
        };
        d.max(Duration::from_secs(1))
    }
}

/// How a stop may proceed before the task is aborted.
///
/// Default: `Timeout(5s)` for leaves, [`Infinity`](Shutdown::Infinity) for
/// groups (their children carry their own timeouts).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Shutdown {
    /// Cancel, then abort the task if it has not ended after this long.
    /// `Timeout(Duration::ZERO)` is the same as [`Brutal`](Shutdown::Brutal).
    Timeout(Duration),
    /// Abort the task at once: its future is dropped without a chance to see
    /// the cancellation. Its `on_cancel` callbacks still run, and the children
    /// it spawned are still stopped, each by its own policy.
    Brutal,
    /// Cancel and wait for as long as it takes.
    Infinity,
}

impl Shutdown {
    /// The default for a leaf: five seconds.
    pub const LEAF_DEFAULT: Shutdown = Shutdown::Timeout(Duration::from_secs(5));

    pub(crate) fn limit(self) -> Option<Duration> {
        match self {
            Shutdown::Timeout(d) => Some(d),
            Shutdown::Brutal => Some(Duration::ZERO),
            Shutdown::Infinity => None,
        }
    }
}

/// Defaults a runnable carries for the options a tree may set on its node
/// (this is what `#[runnable(restart = .., shutdown = .., ready = on_start)]`
/// produces). Options written in the tree take precedence.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct Defaults {
    /// Restart type, unless the tree sets one.
    pub restart: Option<Restart>,
    /// Shutdown policy, unless the tree sets one.
    pub shutdown: Option<Shutdown>,
    /// Healthy as soon as it runs, without `ctx.healthy()`.
    pub ready_on_start: bool,
}
