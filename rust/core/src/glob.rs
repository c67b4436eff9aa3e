//! Shell-style patterns with `*` (any run of characters) and `?` (one
//! character), ASCII case-insensitive: used for origins and address lists.

pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi].eq_ignore_ascii_case(&t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn patterns() {
        assert!(glob_match("http://localhost:*", "http://localhost:3000"));
        assert!(glob_match("http://localhost:*", "HTTP://LOCALHOST:1"));
        assert!(!glob_match(
            "http://localhost:*",
            "http://localhost.evil.com"
        ));
        assert!(glob_match("http://localhost:*", "http://localhost:"));
        assert!(glob_match("null", "null"));
        assert!(glob_match("127.0.0.?", "127.0.0.1"));
        assert!(!glob_match("127.0.0.?", "127.0.0.10"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("::1", "::1"));
        assert!(glob_match("fe80::*", "fe80::1:2"));
    }
}
