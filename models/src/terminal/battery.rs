//! The battery, in thousandths of a full charge. It falls with each message
//! sent and each slip printed; below the configured low mark prints come out
//! faint; at zero the terminal switches off wherever it is.
//!
//! ```
//! use possim_models::terminal::battery::Battery;
//! let mut battery = Battery::from_percent(1);
//! assert!(battery.is_low(10));
//! assert!(battery.drain(10)); // emptied
//! assert!(battery.is_empty());
//! ```

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Battery {
    permille: u16,
}

impl Battery {
    pub const PERMILLE_MAX: u16 = 1000;

    pub fn from_percent(percent: u8) -> Battery {
        assert!(percent <= 100);
        Battery { permille: u16::from(percent) * 10 }
    }

    pub fn percent(self) -> u8 {
        (self.permille / 10) as u8
    }

    pub fn permille(self) -> u16 {
        self.permille
    }

    /// Uses `permille`; returns true when this emptied the battery.
    pub fn drain(&mut self, permille: u16) -> bool {
        if permille == 0 || self.permille == 0 {
            return false;
        }
        self.permille = self.permille.saturating_sub(permille);
        self.permille == 0
    }

    pub fn charge(&mut self, percent: u8) {
        self.permille = (self.permille + u16::from(percent) * 10).min(Battery::PERMILLE_MAX);
    }

    /// Drains to `percent` (never charges: a battery above it only loses).
    pub fn drain_to(&mut self, percent: u8) {
        self.permille = self.permille.min(u16::from(percent.min(100)) * 10);
    }

    pub fn is_empty(self) -> bool {
        self.permille == 0
    }

    pub fn is_low(self, low_percent: u8) -> bool {
        self.permille < u16::from(low_percent) * 10
    }
}
