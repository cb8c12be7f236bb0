//! Insert and remove events (`SCardGetStatusChange`), part of the PC/SC bridge.

use std::fmt;
use std::time::Duration;

use ::pcsc::{ReaderState, State};

use super::{PcscContext, PcscError, present, reader_states};

/// A change seen by a [`ReaderWatcher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    /// A card went into a reader.
    CardInserted {
        /// The reader.
        reader: String,
        /// The card's ATR.
        atr: Vec<u8>,
    },
    /// A card left a reader (or its reader went away).
    CardRemoved {
        /// The reader.
        reader: String,
    },
    /// A reader appeared.
    ReaderAdded {
        /// The reader.
        reader: String,
    },
    /// A reader went away.
    ReaderRemoved {
        /// The reader.
        reader: String,
    },
}

/// Watches readers for cards going in and out (`SCardGetStatusChange`).
pub struct ReaderWatcher {
    pcsc: PcscContext,
    /// Only these readers, or every reader when `None`.
    only: Option<Vec<String>>,
    /// Watched readers, then the PnP notification pseudo-reader last.
    states: Vec<ReaderState>,
    names: Vec<String>,
    present: Vec<bool>,
    counts: Vec<u32>,
}

impl fmt::Debug for ReaderWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReaderWatcher")
            .field("readers", &self.names)
            .field("present", &self.present)
            .finish_non_exhaustive()
    }
}

impl ReaderWatcher {
    pub(super) fn new(pcsc: PcscContext, only: Option<&[&str]>) -> Result<Self, PcscError> {
        let mut w = Self {
            pcsc,
            only: only.map(|o| o.iter().map(|s| (*s).to_owned()).collect()),
            states: Vec::new(),
            names: Vec::new(),
            present: Vec::new(),
            counts: Vec::new(),
        };
        w.rebuild(&mut Vec::new(), false)?;
        Ok(w)
    }

    /// Re-reads the reader list; with `report`, pushes what changed into `events`.
    fn rebuild(&mut self, events: &mut Vec<ReaderEvent>, report: bool) -> Result<(), PcscError> {
        let mut names = self.pcsc.reader_names()?;
        if let Some(only) = &self.only {
            names.retain(|n| only.contains(n));
        }
        let mut states = reader_states(&names)?;
        if !states.is_empty() {
            self.pcsc
                .ctx
                .get_status_change(Duration::ZERO, &mut states)
                .map_err(|e| PcscError::from_pcsc("get_status_change", e))?;
        }
        let present: Vec<bool> = states.iter().map(|s| present(s.event_state())).collect();
        let counts: Vec<u32> = states.iter().map(ReaderState::event_count).collect();
        if report {
            for (i, old) in self.names.iter().enumerate() {
                if !names.contains(old) {
                    if self.present[i] {
                        events.push(ReaderEvent::CardRemoved {
                            reader: old.clone(),
                        });
                    }
                    events.push(ReaderEvent::ReaderRemoved {
                        reader: old.clone(),
                    });
                }
            }
            for (i, new) in names.iter().enumerate() {
                if !self.names.contains(new) {
                    events.push(ReaderEvent::ReaderAdded {
                        reader: new.clone(),
                    });
                    if present[i] {
                        events.push(ReaderEvent::CardInserted {
                            reader: new.clone(),
                            atr: states[i].atr().to_vec(),
                        });
                    }
                }
            }
        }
        for s in &mut states {
            s.sync_current_state();
        }
        let mut pnp = ReaderState::new(::pcsc::PNP_NOTIFICATION(), State::UNAWARE);
        // Learn the PnP state now so that the first wait does not report it as changed.
        let mut probe = [ReaderState::new(::pcsc::PNP_NOTIFICATION(), State::UNAWARE)];
        if self
            .pcsc
            .ctx
            .get_status_change(Duration::ZERO, &mut probe)
            .is_ok()
        {
            probe[0].sync_current_state();
            pnp = ReaderState::new(::pcsc::PNP_NOTIFICATION(), probe[0].current_state());
        }
        states.push(pnp);
        self.states = states;
        self.names = names;
        self.present = present;
        self.counts = counts;
        Ok(())
    }

    /// Whether each watched reader holds a card, as last seen.
    pub fn snapshot(&self) -> Vec<(String, bool)> {
        self.names
            .iter()
            .cloned()
            .zip(self.present.iter().copied())
            .collect()
    }

    /// Waits up to `timeout` (forever when `None`) for changes and returns them; an empty list
    /// when the time ran out. A card pulled and put back between two waits shows as a removal
    /// then an insertion.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Vec<ReaderEvent>, PcscError> {
        match self.pcsc.ctx.get_status_change(timeout, &mut self.states) {
            Ok(()) => {}
            Err(::pcsc::Error::Timeout) => return Ok(Vec::new()),
            Err(e) => return Err(PcscError::from_pcsc("get_status_change", e)),
        }
        let mut events = Vec::new();
        let readers = self.names.len();
        let mut list_changed = false;
        for i in 0..readers {
            let s = &self.states[i];
            let event = s.event_state();
            if !event.contains(State::CHANGED) {
                continue;
            }
            if event.intersects(State::UNKNOWN | State::UNAVAILABLE | State::IGNORE) {
                list_changed = true;
                continue;
            }
            let now = present(event);
            let was = self.present[i];
            // pcsc-lite counts insertions and removals in the state's high bits.
            let count_moved = s.event_count() != self.counts[i] && self.counts[i] != 0;
            self.counts[i] = s.event_count();
            let name = self.names[i].clone();
            if was && (!now || count_moved) {
                events.push(ReaderEvent::CardRemoved {
                    reader: name.clone(),
                });
            }
            if now && (!was || count_moved) {
                events.push(ReaderEvent::CardInserted {
                    reader: name,
                    atr: s.atr().to_vec(),
                });
            }
            self.present[i] = now;
            self.states[i].sync_current_state();
        }
        if let Some(pnp) = self.states.get_mut(readers)
            && pnp.event_state().contains(State::CHANGED)
        {
            pnp.sync_current_state();
            list_changed = true;
        }
        if list_changed {
            self.rebuild(&mut events, true)?;
        }
        Ok(events)
    }
}
