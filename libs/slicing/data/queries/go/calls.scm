; Calls, for the API facet. @call is the call (it orders the calls); @call.callee names the callee.
(call_expression
  function: _ @call.callee) @call
