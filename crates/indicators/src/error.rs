//! Bad indicator parameters.

/// Parameters an indicator refuses at construction.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IndicatorError {
    /// A period below its minimum (most take at least 1, some 2).
    #[error("`{name}` must be at least {min}, got {value}")]
    Period {
        /// The parameter.
        name: &'static str,
        /// What was given.
        value: usize,
        /// The smallest accepted.
        min: usize,
    },
    /// A period longer than a million inputs (a typo, surely; it would allocate).
    #[error("`{name}` = {value} is longer than 1,000,000 inputs")]
    PeriodTooLong {
        /// The parameter.
        name: &'static str,
        /// What was given.
        value: usize,
    },
    /// A fast period not below the slow one.
    #[error("the fast period ({fast}) must be below the slow period ({slow})")]
    FastNotBelowSlow {
        /// Fast.
        fast: usize,
        /// Slow.
        slow: usize,
    },
    /// A multiplier, factor or step that is not finite and positive.
    #[error("`{name}` must be a finite positive number, got {value}")]
    NotPositive {
        /// The parameter.
        name: &'static str,
        /// What was given.
        value: f64,
    },
    /// Parabolic SAR: the step above the maximum.
    #[error("the acceleration step ({step}) must not exceed its maximum ({max})")]
    StepAboveMax {
        /// The step.
        step: f64,
        /// The maximum.
        max: f64,
    },
}
