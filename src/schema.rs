pub fn generate() -> String { String::new() }
