//! The streamevent compactor over Python values.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use streamevent::compact::{Band, Chunk, Compactor as Core, CompactorConfig, Message, Mode};

/// Compactor(mode="batch", *, max_bytes=1048576, max_age=1.0, bands=None)
///
/// `push(key, payload, value=None, event=False, source="py", offset=None)` returns the chunks
/// closed by it, `poll()` the ones closed by age, `flush()` what is open. A chunk is
/// `(id, [(key, payload), ...], received)`. Modes: batch, last_value, deadband (with `bands`:
/// key -> ("abs", x) or ("pct", x)).
#[pyclass(module = "zero104")]
pub(crate) struct Compactor {
    core: Core,
    next_offset: u64,
}

type PyChunk = (String, Vec<(String, String)>, usize);

fn chunk(c: Chunk) -> PyChunk {
    (c.id.to_string(), c.messages.into_iter().map(|m| (m.key, m.payload)).collect(), c.received)
}

#[pymethods]
impl Compactor {
    #[new]
    #[pyo3(signature = (mode="batch", *, max_bytes=1 << 20, max_age=1.0, bands=None))]
    fn new(
        mode: &str,
        max_bytes: usize,
        max_age: f64,
        bands: Option<HashMap<String, (String, f64)>>,
    ) -> PyResult<Compactor> {
        let mode = match mode {
            "batch" => Mode::Batch,
            "last_value" => Mode::LastValue,
            "deadband" => Mode::Deadband,
            m => return Err(PyValueError::new_err(format!("mode {m:?}: batch, last_value or deadband"))),
        };
        let mut b = HashMap::new();
        for (k, (kind, x)) in bands.unwrap_or_default() {
            let band = match kind.as_str() {
                "abs" => Band::Absolute(x),
                "pct" => Band::Percent(x),
                o => return Err(PyValueError::new_err(format!("band kind {o:?} of {k:?}: abs or pct"))),
            };
            b.insert(k, band);
        }
        if max_bytes == 0 {
            return Err(PyValueError::new_err("max_bytes must be above zero"));
        }
        let max_age =
            Duration::try_from_secs_f64(max_age).map_err(|_| PyValueError::new_err("max_age: seconds >= 0"))?;
        Ok(Compactor { core: Core::new(CompactorConfig { mode, max_bytes, max_age, bands: b }), next_offset: 0 })
    }

    /// push(key, payload, value=None, event=False, source="py", offset=None) -> list of chunks
    #[pyo3(signature = (key, payload, value=None, event=false, source="py", offset=None))]
    fn push(
        &mut self,
        key: String,
        payload: String,
        value: Option<f64>,
        event: bool,
        source: &str,
        offset: Option<u64>,
    ) -> Vec<PyChunk> {
        let off = offset.unwrap_or(self.next_offset);
        self.next_offset = off + 1;
        let now = Instant::now();
        let mut out = vec![];
        if let Some(c) = self.core.push(Message::new(key, source, off, payload, value, event), now) {
            out.push(chunk(c));
        }
        while let Some(c) = self.core.poll(now) {
            out.push(chunk(c));
        }
        out
    }

    /// poll() -> list of chunks closed by age.
    fn poll(&mut self) -> Vec<PyChunk> {
        let now = Instant::now();
        let mut out = vec![];
        while let Some(c) = self.core.poll(now) {
            out.push(chunk(c));
        }
        out
    }

    /// flush() -> the open chunk, or None.
    fn flush(&mut self) -> Option<PyChunk> {
        self.core.flush().map(chunk)
    }
}
