//! Injected faults: rules that replace the answers to the next few matching requests.
//!
//! A real provider throttles (429 with `Retry-After`), fails (5xx), changes the format of its
//! answers, and crashes after it acted but before it answered. A client that mints keys has to
//! survive all four without leaving a key behind, so each can be queued here. Rules are kept in
//! the order they were added; each request uses up one use of the first rule it matches, so
//! several rules for the same request line up one after the other.

/// How a faulted request is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultAnswer {
    /// Answer `status` with `{"error":"injected"}` (and `Retry-After`), doing nothing.
    Fail {
        /// The status to answer.
        status: u16,
        /// Seconds for a `Retry-After` header, if any.
        retry_after: Option<u64>,
    },
    /// Do the work, then answer 200 with a truncated, non-JSON body.
    Malformed,
    /// Do the work, then close the connection without any answer.
    DropAfterWork,
    /// Do the work, then wait this long before the real answer: a provider slower than its
    /// client's patience, that acted anyway.
    DelayAfterWork {
        /// How long to wait.
        delay: std::time::Duration,
    },
    /// Do the work, then answer `status` with `{"error":"injected"}`: a provider whose
    /// gateway failed after the backend acted (a mint that did mint, answered 502).
    FailAfterWork {
        /// The status to answer.
        status: u16,
    },
}

/// A rule: answer the next `remaining` matching requests with `answer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    remaining: usize,
    /// Only requests with this method (compared ignoring ASCII case), if given.
    method: Option<String>,
    /// Only requests whose path starts with this, if given.
    path_prefix: Option<String>,
    answer: FaultAnswer,
}

impl Fault {
    /// A rule for `n` requests; `None` filters match every request.
    pub(crate) fn new(
        n: usize,
        method: Option<&str>,
        path_prefix: Option<&str>,
        answer: FaultAnswer,
    ) -> Fault {
        Fault {
            remaining: n,
            method: method.map(str::to_owned),
            path_prefix: path_prefix.map(str::to_owned),
            answer,
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|wanted| wanted.eq_ignore_ascii_case(method))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|prefix| path.starts_with(prefix))
    }
}

/// Consumes one use of the first rule that applies to `method` and `path`.
pub(crate) fn take_fault(faults: &mut Vec<Fault>, method: &str, path: &str) -> Option<FaultAnswer> {
    let index = faults
        .iter()
        .position(|fault| fault.remaining > 0 && fault.matches(method, path))?;
    let fault = &mut faults[index];
    let answer = fault.answer;
    fault.remaining -= 1;
    if fault.remaining == 0 {
        faults.remove(index);
    }
    Some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_for_everything_is_used_up_then_removed() {
        let mut faults = vec![Fault::new(2, None, None, FaultAnswer::Malformed)];
        assert_eq!(
            take_fault(&mut faults, "GET", "/v1/whoami"),
            Some(FaultAnswer::Malformed)
        );
        assert_eq!(
            take_fault(&mut faults, "POST", "/v1/keys"),
            Some(FaultAnswer::Malformed)
        );
        assert_eq!(take_fault(&mut faults, "POST", "/v1/keys"), None);
        assert!(faults.is_empty());
    }

    #[test]
    fn filters_on_method_and_path_prefix() {
        let mut faults = vec![Fault::new(
            1,
            Some("delete"),
            Some("/v1/keys"),
            FaultAnswer::DropAfterWork,
        )];
        assert_eq!(take_fault(&mut faults, "GET", "/v1/keys/key_1"), None);
        assert_eq!(take_fault(&mut faults, "DELETE", "/v1/whoami"), None);
        assert_eq!(
            take_fault(&mut faults, "DELETE", "/v1/keys/key_1"),
            Some(FaultAnswer::DropAfterWork)
        );
        assert!(faults.is_empty());
    }

    #[test]
    fn rules_line_up_in_the_order_they_were_added() {
        let throttle = FaultAnswer::Fail {
            status: 429,
            retry_after: Some(1),
        };
        let fail = FaultAnswer::Fail {
            status: 500,
            retry_after: None,
        };
        let mut faults = vec![
            Fault::new(1, Some("POST"), None, throttle),
            Fault::new(1, None, None, fail),
        ];
        assert_eq!(take_fault(&mut faults, "GET", "/v1/keys"), Some(fail));
        assert_eq!(take_fault(&mut faults, "POST", "/v1/keys"), Some(throttle));
        assert_eq!(take_fault(&mut faults, "POST", "/v1/keys"), None);
    }

    #[test]
    fn a_rule_for_no_request_never_matches() {
        let mut faults = vec![Fault::new(0, None, None, FaultAnswer::Malformed)];
        assert_eq!(take_fault(&mut faults, "GET", "/v1/keys"), None);
    }
}
