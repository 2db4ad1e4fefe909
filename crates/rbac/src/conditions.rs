//! Grant conditions: CEL over `user`, `org`, `resource` and `context`.
//! A condition is compiled when it is saved (a syntax error names its
//! position) and the compiled programs are shared by every check, in a
//! cache of at most [`MAX_CACHED`] programs.
//!
//! Evaluation has a budget. At save a condition must stay small: at most
//! [`MAX_CONDITION`] bytes, [`MAX_NODES`] nodes, [`MAX_DEPTH`] levels, one
//! level of comprehension (`all`, `exists`, `map`, `filter`; one inside
//! another is refused), list and map literals of at most
//! [`MAX_LITERAL_ITEMS`] entries and string literals of at most
//! [`MAX_LITERAL_BYTES`]. Before a check runs it, the work it may do is
//! bounded from above: its nodes × (its `+` operators + 1) × the size of
//! the variables it reads (string bytes and list and map items), times the
//! items it may iterate when it has a comprehension (at most
//! [`MAX_ITERATED_ITEMS`]). Past [`BUDGET`] the check is denied with the
//! reason `condition_budget_exceeded` instead of run. Everyday conditions
//! (`resource.owner_id == user.id`, a group lookup over a few hundred
//! items) stay orders of magnitude below it.

use std::sync::{Arc, OnceLock};

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr, LiteralValue};
use dashmap::DashMap;
use serde_json::Value;

use authgate_core::ToolError;

/// The variables a condition may use.
pub const VARIABLES: &[&str] = &["user", "org", "resource", "context"];

pub const MAX_CONDITION: usize = 2048;
pub const MAX_NODES: usize = 128;
pub const MAX_DEPTH: usize = 24;
pub const MAX_LITERAL_ITEMS: usize = 64;
pub const MAX_LITERAL_BYTES: usize = 512;
/// The most list and map items a condition with a comprehension may be
/// given, in the variables it reads.
pub const MAX_ITERATED_ITEMS: usize = 1_000;
/// The most work units (see the module's notes) one evaluation may cost.
pub const BUDGET: u64 = 50_000_000;
/// Compiled programs kept at once; the cache starts over when full.
pub const MAX_CACHED: usize = 4096;
/// Brackets and parentheses open at once in a source the parser is given.
const MAX_SOURCE_NESTING: usize = 64;
/// The stack of the thread a condition is parsed on: CEL's parser recurses
/// with large frames (a debug build overflows a 2 MiB stack at a dozen
/// nested calls), so it never runs on a worker's own stack.
const PARSE_STACK: usize = 256 << 20;

/// The reason word of a check whose condition would cost too much.
pub const BUDGET_EXCEEDED: &str = "condition_budget_exceeded";

/// A compiled condition and what bounds its work.
#[derive(Debug)]
pub struct Condition {
    program: cel::Program,
    comprehends: bool,
    nodes: u64,
    concatenations: u64,
    /// Which of the four variables it reads.
    reads: Vec<&'static str>,
}

fn programs() -> &'static DashMap<String, Arc<Condition>> {
    static CACHE: OnceLock<DashMap<String, Arc<Condition>>> = OnceLock::new();
    CACHE.get_or_init(DashMap::new)
}

fn env() -> &'static Arc<cel::Env> {
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(cel::Env::stdlib()))
}

/// Compiles a condition (or takes it from the cache), checking its syntax,
/// that it reads only the known variables, and its size. The parse runs on
/// a thread of its own with a large stack.
pub fn compile_condition(field: &str, source: &str) -> Result<Arc<Condition>, ToolError> {
    if let Some(p) = programs().get(source) {
        return Ok(p.clone());
    }
    let (f, src) = (field.to_owned(), source.to_owned());
    let parsed = std::thread::Builder::new()
        .name("cel-parse".into())
        .stack_size(PARSE_STACK)
        .spawn(move || build(&f, &src))
        .map_err(|e| ToolError::internal(format!("no thread to parse a condition: {e}")))?
        .join()
        .map_err(|_| ToolError::internal("parsing a condition failed"))?;
    let condition = Arc::new(parsed?);
    let cache = programs();
    if cache.len() >= MAX_CACHED {
        cache.clear();
    }
    cache.insert(source.to_owned(), condition.clone());
    Ok(condition)
}

fn build(field: &str, source: &str) -> Result<Condition, ToolError> {
    let too_big = |what: String| {
        ToolError::invalid(field, format!("the condition is too complex: {what}")).with_hint(
            "keep conditions to comparisons of a few fields, e.g. resource.owner_id == user.id",
        )
    };
    if source.len() > MAX_CONDITION {
        return Err(too_big(format!("more than {MAX_CONDITION} bytes")));
    }
    if source_nesting(source) > MAX_SOURCE_NESTING {
        return Err(too_big(format!(
            "more than {MAX_SOURCE_NESTING} levels of nesting"
        )));
    }
    let program = env().compile(source).map_err(|errors| {
        let first = <[cel::ParseError]>::first(&errors.errors);
        let (line, column) = first.map(|e| e.pos).unwrap_or((0, 0));
        let what = first
            .map(|e| e.msg.clone())
            .unwrap_or_else(|| errors.to_string());
        ToolError::invalid(
            field,
            format!(
                "the condition is not valid CEL: {what} (line {}, column {})",
                line.max(1),
                column + 1
            ),
        )
        .with_hint("e.g. resource.owner_id == user.id, or context.ip.startsWith('10.')")
    })?;
    let mut size = Size::default();
    size.walk(program.expression(), 0, 0).map_err(too_big)?;
    let references = program.references();
    if let Some(unknown) = references
        .variables()
        .into_iter()
        .find(|v| !VARIABLES.contains(v) && !size.bound.iter().any(|b| b == v))
    {
        return Err(ToolError::invalid(
            field,
            format!(
                "the condition reads '{unknown}'; a condition may read only user, org, resource and context"
            ),
        ));
    }
    let reads = VARIABLES
        .iter()
        .copied()
        .filter(|v| references.has_variable(v))
        .collect();
    Ok(Condition {
        comprehends: size.comprehensions > 0,
        nodes: size.nodes as u64,
        concatenations: size.concatenations as u64,
        reads,
        program,
    })
}

/// The deepest nesting of brackets and runs of unary operators in
/// `source` (string literals included: a cheap, safe bound taken before
/// the recursive parser sees it).
fn source_nesting(source: &str) -> usize {
    let (mut depth, mut deepest, mut unary) = (0usize, 0usize, 0usize);
    for c in source.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '!' | '-' => unary += 1,
            c if c.is_whitespace() => {}
            _ => unary = 0,
        }
        deepest = deepest.max(depth + unary);
    }
    deepest
}

/// What a condition's tree holds, counted on a walk that stops at the
/// first limit passed.
#[derive(Default)]
struct Size {
    nodes: usize,
    comprehensions: usize,
    /// `+` operators: each may make a value as large as its operands.
    concatenations: usize,
    /// Names comprehensions bind (their iteration and accumulator
    /// variables), which a condition may read.
    bound: Vec<String>,
}

impl Size {
    fn walk(&mut self, e: &IdedExpr, depth: usize, comprehension: usize) -> Result<(), String> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(format!("more than {MAX_NODES} parts"));
        }
        if depth > MAX_DEPTH {
            return Err(format!("more than {MAX_DEPTH} levels"));
        }
        let d = depth + 1;
        match &e.expr {
            Expr::Call(call) => {
                if call.func_name == "_+_" {
                    self.concatenations += 1;
                }
                if let Some(t) = &call.target {
                    self.walk(t, d, comprehension)?;
                }
                for a in &call.args {
                    self.walk(a, d, comprehension)?;
                }
            }
            Expr::Comprehension(c) => {
                if comprehension >= 1 {
                    return Err("a comprehension (all, exists, map, filter) inside another".into());
                }
                self.comprehensions += 1;
                self.bound.push(c.iter_var.clone());
                self.bound.extend(c.iter_var2.clone());
                self.bound.push(c.accu_var.clone());
                self.walk(&c.iter_range, d, comprehension)?;
                for part in [&c.accu_init, &c.loop_cond, &c.loop_step, &c.result] {
                    self.walk(part, d, comprehension + 1)?;
                }
            }
            Expr::List(list) => {
                if list.elements.len() > MAX_LITERAL_ITEMS {
                    return Err(format!("a list of more than {MAX_LITERAL_ITEMS} items"));
                }
                for item in &list.elements {
                    self.walk(item, d, comprehension)?;
                }
            }
            Expr::Map(map) => self.entries(&map.entries, d, comprehension)?,
            Expr::Struct(s) => self.entries(&s.entries, d, comprehension)?,
            Expr::Select(select) => self.walk(&select.operand, d, comprehension)?,
            Expr::Literal(LiteralValue::String(s)) if s.len() > MAX_LITERAL_BYTES => {
                return Err(format!("a string of more than {MAX_LITERAL_BYTES} bytes"));
            }
            Expr::Literal(LiteralValue::Bytes(b)) if b.len() > MAX_LITERAL_BYTES => {
                return Err(format!("bytes of more than {MAX_LITERAL_BYTES}"));
            }
            Expr::Literal(_) | Expr::Ident(_) | Expr::Unspecified => {}
        }
        Ok(())
    }

    fn entries(
        &mut self, entries: &[cel::common::ast::IdedEntryExpr], depth: usize, comprehension: usize,
    ) -> Result<(), String> {
        if entries.len() > MAX_LITERAL_ITEMS {
            return Err(format!("a map of more than {MAX_LITERAL_ITEMS} entries"));
        }
        for entry in entries {
            match &entry.expr {
                EntryExpr::MapEntry(m) => {
                    self.walk(&m.key, depth, comprehension)?;
                    self.walk(&m.value, depth, comprehension)?;
                }
                EntryExpr::StructField(f) => self.walk(&f.value, depth, comprehension)?,
            }
        }
        Ok(())
    }
}

fn to_cel(value: &Value) -> cel::Value {
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => n
                .as_u64()
                .map(cel::Value::UInt)
                .unwrap_or_else(|| cel::Value::Float(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let m: std::collections::HashMap<String, cel::Value> =
                map.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            cel::Value::from(m)
        }
    }
}

/// The size of a value as the budget counts it: string bytes plus list
/// and map items plus one per scalar, all levels; and its items alone.
fn measure(value: &Value) -> (u64, u64) {
    let (mut size, mut items) = (0u64, 0u64);
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(xs) => {
                items += xs.len() as u64;
                stack.extend(xs);
            }
            Value::Object(m) => {
                items += m.len() as u64;
                size += m.keys().map(|k| k.len() as u64).sum::<u64>();
                stack.extend(m.values());
            }
            Value::String(s) => size += s.len() as u64,
            _ => size += 1,
        }
    }
    (size + items, items)
}

impl Condition {
    /// Why running it over `vars` would cost more than the budget, if so.
    fn over_budget(&self, vars: &Variables) -> Option<String> {
        let (mut size, mut items) = (1u64, 0u64);
        for (name, value) in vars.named() {
            if self.reads.contains(&name) {
                let (s, i) = measure(value);
                size += s;
                items += i;
            }
        }
        if self.comprehends && items > MAX_ITERATED_ITEMS as u64 {
            return Some(format!(
                "{BUDGET_EXCEEDED}: it iterates and reads more than {MAX_ITERATED_ITEMS} list and map items"
            ));
        }
        let rounds = if self.comprehends { items + 1 } else { 1 };
        let work = self
            .nodes
            .saturating_mul(self.concatenations + 1)
            .saturating_mul(size)
            .saturating_mul(rounds);
        (work > BUDGET).then(|| {
            format!("{BUDGET_EXCEEDED}: it could cost {work} work units over these values (at most {BUDGET})")
        })
    }
}

/// Evaluates a condition over the four variables: true, false, or why it
/// could not be evaluated (`condition_budget_exceeded` when it would cost
/// more than the budget over these values).
pub fn evaluate(source: &str, vars: &Variables) -> Result<bool, String> {
    let condition = compile_condition("condition", source).map_err(|e| e.message)?;
    if let Some(reason) = condition.over_budget(vars) {
        return Err(reason);
    }
    let mut ctx = cel::Context::with_env(env().clone());
    ctx.add_variable_from_value("user", to_cel(&vars.user));
    ctx.add_variable_from_value("org", to_cel(&vars.org));
    ctx.add_variable_from_value("resource", to_cel(&vars.resource));
    ctx.add_variable_from_value("context", to_cel(&vars.context));
    match condition.program.execute(&ctx) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!(
            "the condition gave a {}, not a boolean",
            other.type_of()
        )),
        Err(e) => Err(reason(&e)),
    }
}

/// Why an evaluation failed, naming the values' types, never the values:
/// a reason goes back to whoever asked, and CEL's own text prints whole
/// maps of user data (in an order that changes from one run to the next,
/// found by the `cel_condition` fuzz target). Variants cel marks
/// deprecated are still matched: should one be raised, it must not print
/// values either.
#[allow(deprecated)]
fn reason(e: &cel::ExecutionError) -> String {
    use cel::ExecutionError as E;
    let t = |v: &cel::Value| v.type_of().to_string();
    match e {
        E::UnsupportedTargetType { target } => format!("unsupported target type {}", t(target)),
        E::NotSupportedAsMethod { method, target } => {
            format!("{method} cannot be called as a method of a {}", t(target))
        }
        E::UnsupportedKeyType(v) => format!("unsupported key type {}", t(v)),
        E::ValuesNotComparable(a, b) => format!("a {} and a {} cannot be compared", t(a), t(b)),
        E::UnsupportedUnaryOperator(op, v) => format!("unsupported operator '{op}' on a {}", t(v)),
        E::UnsupportedBinaryOperator(op, a, b) => {
            format!(
                "unsupported operator '{op}' between a {} and a {}",
                t(a),
                t(b)
            )
        }
        E::UnsupportedMapIndex(v) => format!("a map cannot be indexed by a {}", t(v)),
        E::UnsupportedListIndex(v) => format!("a list cannot be indexed by a {}", t(v)),
        E::UnsupportedIndex(a, b) => format!("a {} cannot be indexed by a {}", t(a), t(b)),
        E::DivisionByZero(_) => "division by zero".to_owned(),
        E::RemainderByZero(_) => "remainder by zero".to_owned(),
        other => other.to_string(),
    }
}

/// The values a condition sees.
#[derive(Debug, Clone)]
pub struct Variables {
    pub user: Value,
    pub org: Value,
    pub resource: Value,
    pub context: Value,
}

impl Variables {
    fn named(&self) -> [(&'static str, &Value); 4] {
        [
            ("user", &self.user),
            ("org", &self.org),
            ("resource", &self.resource),
            ("context", &self.context),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `cel_condition` fuzz target
    /// (`fuzz/corpus/cel_condition/crash-map-in-the-reason`).
    #[test]
    fn a_failed_evaluation_names_types_not_values_and_is_the_same_each_time() {
        let vars = Variables {
            user: serde_json::json!({"id": "usr_1", "email": "a@example.com", "age": 30, "groups": ["x"]}),
            org: Value::Null,
            resource: Value::Null,
            context: Value::Null,
        };
        let source = "'abc' + user == ''";
        let first = evaluate(source, &vars).expect_err("a string plus a map");
        assert!(!first.contains("a@example.com"), "{first}");
        assert!(first.contains("'add'") && first.contains("map"), "{first}");
        for _ in 0..20 {
            assert_eq!(evaluate(source, &vars), Err(first.clone()));
        }
        // `fuzz/corpus/cel_condition/crash-map-as-the-result`.
        let not_boolean = evaluate("user", &vars).expect_err("a map is not a boolean");
        assert_eq!(not_boolean, "the condition gave a map, not a boolean");
    }

    fn vars(owner: &str) -> Variables {
        Variables {
            user: serde_json::json!({"id": "usr_1", "email": "a@b.co", "email_verified": true, "metadata": {"level": 3}}),
            org: serde_json::json!({"id": "org_1", "slug": "acme", "metadata": {}}),
            resource: serde_json::json!({"owner_id": owner}),
            context: serde_json::json!({"resource": {"owner_id": owner}, "ip": "10.0.0.1"}),
        }
    }

    #[test]
    fn conditions_compile_once_and_evaluate() {
        assert_eq!(
            evaluate("resource.owner_id == user.id", &vars("usr_1")),
            Ok(true)
        );
        assert_eq!(
            evaluate("resource.owner_id == user.id", &vars("usr_2")),
            Ok(false)
        );
        assert_eq!(
            evaluate(
                "user.metadata.level >= 3 && context.ip.startsWith('10.')",
                &vars("x")
            ),
            Ok(true)
        );
        // Reading a field that is absent fails to evaluate: a denial with a reason.
        assert!(evaluate("resource.missing == 1", &vars("x")).is_err());
        assert!(evaluate("1 + 1", &vars("x")).is_err(), "not a boolean");
    }

    #[test]
    fn bad_conditions_are_refused_with_their_position() {
        let err =
            compile_condition("grants[0].condition", "resource.owner_id == ").expect_err("syntax");
        assert_eq!(err.field.as_deref(), Some("grants[0].condition"));
        assert!(err.message.contains("line 1"), "{}", err.message);
        let err = compile_condition("c", "secrets.x == 1").expect_err("unknown variable");
        assert!(err.message.contains("'secrets'"), "{}", err.message);
    }

    /// Security review 2, fault 7: nested comprehensions over literal lists
    /// (10⁸ steps) pinned a worker on every check. Each of these is refused
    /// at save, naming what is too much.
    #[test]
    fn hostile_conditions_are_refused_at_save() {
        let list = format!(
            "[{}]",
            (0..60).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
        );
        let big_list = format!(
            "[{}]",
            (0..65).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
        );
        let corpus = [
            (
                format!("{list}.all(a, {list}.all(b, {list}.all(c, a + b + c >= 0)))"),
                "inside another",
            ),
            (
                format!("{list}.exists(a, {list}.exists(b, a == b))"),
                "inside another",
            ),
            (format!("{big_list}.size() > 0"), "more than 64 items"),
            (
                format!("'{}' == user.id", "x".repeat(600)),
                "more than 512 bytes",
            ),
            (
                format!("{}true{}", "(".repeat(1000), ")".repeat(1000)),
                "levels of nesting",
            ),
            (format!("{}true", "!".repeat(1000)), "levels of nesting"),
            (
                (0..200).map(|_| "user.id").collect::<Vec<_>>().join(" + ") + " == ''",
                "levels",
            ),
            (
                (0..70)
                    .map(|i| format!("(user.id == '{i}')"))
                    .collect::<Vec<_>>()
                    .join(" || "),
                "parts",
            ),
            (
                format!("{}user.id{} == ''", "size(".repeat(40), ")".repeat(40)),
                "levels",
            ),
        ];
        for (source, why) in corpus {
            let started = std::time::Instant::now();
            let err = compile_condition("condition", &source).expect_err(&source);
            assert!(err.message.contains(why), "{why}: {}", err.message);
            assert!(
                started.elapsed() < std::time::Duration::from_secs(1),
                "{why}"
            );
        }
    }

    /// What passes the save limits but would cost too much over the values
    /// of a check is denied before it runs, with `condition_budget_exceeded`.
    #[test]
    fn evaluation_over_budget_is_denied_before_it_runs() {
        let mut v = vars("usr_1");
        let many: Vec<Value> = (0..2000).map(|i| Value::from(format!("g{i}"))).collect();
        v.context = serde_json::json!({"groups": many, "blob": "x".repeat(900_000)});
        let iterate = "context.groups.exists(g, g == 'admins')";
        let err = evaluate(iterate, &v).expect_err("too many items");
        assert!(err.starts_with(BUDGET_EXCEEDED), "{err}");
        let concat = (0..20)
            .map(|_| "context.blob")
            .collect::<Vec<_>>()
            .join(" + ")
            + " == ''";
        let err = evaluate(&concat, &v).expect_err("too much work");
        assert!(err.starts_with(BUDGET_EXCEEDED), "{err}");
        // The same conditions over everyday values run.
        v.context = serde_json::json!({"groups": ["staff", "admins"], "blob": "x"});
        assert_eq!(evaluate(iterate, &v), Ok(true));
        assert_eq!(evaluate(&concat, &v), Ok(false));
        // A condition that does not read the big value is not charged for it.
        v.context = serde_json::json!({"blob": "x".repeat(900_000)});
        assert_eq!(evaluate("resource.owner_id == user.id", &v), Ok(true));
    }

    #[test]
    fn the_program_cache_is_bounded() {
        for i in 0..(MAX_CACHED + 10) {
            compile_condition("c", &format!("user.id == 'u{i}'")).expect("compiles");
        }
        assert!(programs().len() <= MAX_CACHED, "{}", programs().len());
    }
}
