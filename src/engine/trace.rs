//! Step-by-step explanation of a settlement (`medsettle explain`). The kernel records steps
//! only when a tracer is attached; in batch runs the closures are never called.

/// One step: which layer, what was computed, the rule's source, and (where the layer gives
/// them) the numbers by name and the policy parameters read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// `setl_id` of the claim (empty for year-end steps)
    pub setl_id: String,
    /// the settlement year the step belongs to
    pub year: i32,
    pub layer: &'static str,
    pub text: String,
    pub source: String,
    /// Named numbers (exact decimals as text), e.g. `("base", "12000.00")`.
    pub values: Vec<(String, String)>,
    /// Policy parameters read, as TOML paths (`catastrophic.general`).
    pub params: Vec<String>,
}

/// What a detailed step carries.
#[derive(Clone, Debug, Default)]
pub struct Detail {
    pub text: String,
    pub source: String,
    pub values: Vec<(String, String)>,
    pub params: Vec<String>,
}

impl Detail {
    pub fn new(text: String, source: String) -> Detail {
        Detail { text, source, ..Detail::default() }
    }
    pub fn value(mut self, name: impl Into<String>, v: impl ToString) -> Detail {
        self.values.push((name.into(), v.to_string()));
        self
    }
    pub fn param(mut self, path: impl Into<String>) -> Detail {
        self.params.push(path.into());
        self
    }
    /// The amounts of a claim's settlement (deductible, funds, other payers, personal part).
    pub fn amounts(self, r: &crate::model::Settlement) -> Detail {
        self.value("act_pay_dedc", r.act_pay_dedc)
            .value("hifp_pay", r.hifp_pay)
            .value("hifob_pay", r.hifob_pay)
            .value("hifmi_pay", r.hifmi_pay)
            .value("maf_pay", r.maf_pay)
            .value("fund_pay_sumamt", r.fund_pay_sumamt())
            .value("oth_pay", r.oth_pay)
            .value("psn_part_amt", r.psn_part_amt)
    }
}

/// A sink for steps, or nothing.
pub struct Tracer<'a> {
    sink: Option<&'a mut Vec<Step>>,
    current: String,
    year: i32,
}

impl<'a> Tracer<'a> {
    pub fn off() -> Tracer<'a> {
        Tracer { sink: None, current: String::new(), year: 0 }
    }
    pub fn on(sink: &'a mut Vec<Step>) -> Tracer<'a> {
        Tracer { sink: Some(sink), current: String::new(), year: 0 }
    }
    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }
    /// The claim (empty: the year end) and year the next steps belong to; the setl_id is
    /// looked up only when tracing.
    pub fn claim<'s>(&mut self, setl_id: impl FnOnce() -> &'s str, year: i32) {
        if self.sink.is_some() {
            self.current = setl_id().to_string();
            self.year = year;
        }
    }
    /// Records a step; `f` runs only when tracing.
    pub fn step(&mut self, layer: &'static str, f: impl FnOnce() -> (String, String)) {
        self.detail(layer, || {
            let (text, source) = f();
            Detail::new(text, source)
        });
    }
    /// Records a step with its numbers and parameters; `f` runs only when tracing.
    pub fn detail(&mut self, layer: &'static str, f: impl FnOnce() -> Detail) {
        if let Some(sink) = self.sink.as_deref_mut() {
            let d = f();
            sink.push(Step {
                setl_id: self.current.clone(),
                year: self.year,
                layer,
                text: d.text,
                source: d.source,
                values: d.values,
                params: d.params,
            });
        }
    }
}
