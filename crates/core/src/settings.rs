//! Server settings the domains read: each domain defines its own settings
//! struct (with a `Default` that matches the documented defaults) and the
//! gateway stores the configured value here. Core knows none of them.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct Settings {
    values: Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Settings({} values)", self.values.len())
    }
}

impl Settings {
    /// Sets the value of `T`, replacing any earlier one.
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) -> &mut Self {
        Arc::make_mut(&mut self.values).insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// The value of `T`, or its default when none was set.
    pub fn get<T: Clone + Default + Send + Sync + 'static>(&self) -> T {
        self.values
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default, Debug, PartialEq)]
    struct Limits {
        max: u32,
    }

    #[test]
    fn values_by_type_with_defaults() {
        let mut s = Settings::default();
        assert_eq!(s.get::<Limits>(), Limits { max: 0 });
        let before = s.clone();
        s.insert(Limits { max: 7 });
        assert_eq!(s.get::<Limits>().max, 7);
        assert_eq!(before.get::<Limits>().max, 0, "clones are independent");
    }
}
