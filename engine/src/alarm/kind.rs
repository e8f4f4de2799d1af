//! What an alarm is about, and how urgent.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Urgency, as ISA-18.2 orders it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    pub fn name(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low" => Ok(Priority::Low),
            "medium" => Ok(Priority::Medium),
            "high" => Ok(Priority::High),
            "critical" => Ok(Priority::Critical),
            other => Err(format!("unknown priority '{other}'; use low, medium, high or critical")),
        }
    }
}

macro_rules! kinds {
    ($($variant:ident => $name:literal, $priority:ident, $doc:literal;)*) => {
        /// Every kind of alarm the engine raises.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum AlarmKind {
            $(#[doc = $doc] $variant,)*
        }

        impl AlarmKind {
            pub const ALL: &[AlarmKind] = &[$(AlarmKind::$variant),*];

            /// The name in outputs and configuration.
            pub fn name(self) -> &'static str {
                match self { $(AlarmKind::$variant => $name,)* }
            }

            /// The priority unless configured otherwise.
            pub fn default_priority(self) -> Priority {
                match self { $(AlarmKind::$variant => Priority::$priority,)* }
            }

            pub fn parse(s: &str) -> Option<AlarmKind> {
                match s { $($name => Some(AlarmKind::$variant),)* _ => None }
            }
        }
    };
}

kinds! {
    Stale => "stale", Medium, "No reading for longer than the configured time.";
    Flatline => "flatline", Low, "The value has not moved for longer than the configured time.";
    OutOfRange => "out_of_range", Medium, "A reading outside the physical range of its sensor.";
    SequenceGap => "sequence_gap", Low, "A site's sequence numbers skipped: messages were lost upstream.";
    High => "high", Medium, "Above the high limit.";
    HighHigh => "high_high", High, "Above the high-high limit.";
    Low => "low", Medium, "Below the low limit.";
    LowLow => "low_low", High, "Below the low-low limit.";
    RateOfChange => "rate_of_change", Medium, "Changing faster than the configured rate.";
    GasDetected => "gas_detected", High, "A user's gas detector above its first %LEL level.";
    GasDetectedHigh => "gas_detected_high", Critical, "A user's gas detector above its second %LEL level.";
    ShutoffClosed => "shutoff_closed", High, "A user's automatic shut-off valve closed without a command.";
    Tamper => "tamper", Medium, "A user-side device reports tampering.";
    DeviceFault => "device_fault", Medium, "A user-side device reports a fault.";
    BatteryLow => "battery_low", Low, "A user-side device's battery is low.";
    DeviceOffline => "device_offline", Medium, "A user-side device has not reported for longer than the configured time.";
    UsageWhenClosed => "usage_when_closed", Medium, "A metered user draws gas when its learned profile says it is closed.";
    UsageAboveProfile => "usage_above_profile", Medium, "A metered user draws far more than its learned profile.";
    AlarmFlood => "alarm_flood", High, "More new alarms than the flood limit within the flood window.";
    Leak => "leak", Critical, "A suspected leak (zone balance or model residuals).";
    MeterStep => "meter_step", High, "A meter's reading stepped at once and a zone's balance by as much the other way (a user's meter; or a meter between two zones, one zone short and the other over by as much): a faulty meter, corrected in the balance, not a leak.";
}

impl fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
