//! Step-by-step explanation of a settlement (`medsettle explain`). The kernel records steps
//! only when a tracer is attached; in batch runs the closures are never called.

/// One step: which layer, what was computed, and the rule's source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// `setl_id` of the claim (empty for year-end steps)
    pub setl_id: String,
    pub layer: &'static str,
    pub text: String,
    pub source: String,
}

/// A sink for steps, or nothing.
pub struct Tracer<'a> {
    sink: Option<&'a mut Vec<Step>>,
    current: String,
}

impl<'a> Tracer<'a> {
    pub fn off() -> Tracer<'a> {
        Tracer { sink: None, current: String::new() }
    }
    pub fn on(sink: &'a mut Vec<Step>) -> Tracer<'a> {
        Tracer { sink: Some(sink), current: String::new() }
    }
    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }
    pub fn claim(&mut self, setl_id: &str) {
        if self.sink.is_some() {
            self.current = setl_id.to_string();
        }
    }
    /// Records a step; `f` runs only when tracing.
    pub fn step(&mut self, layer: &'static str, f: impl FnOnce() -> (String, String)) {
        if let Some(sink) = self.sink.as_deref_mut() {
            let (text, source) = f();
            sink.push(Step { setl_id: self.current.clone(), layer, text, source });
        }
    }
}
