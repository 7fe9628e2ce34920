; Calls, for the API facet. @call is the call (it orders the calls); each @call.callee is a part
; of the callee's name, joined with "." in source order. A receiver, a method name, or both.
(call
  receiver: _ @call.callee
  method: _ @call.callee) @call

(call
  !receiver
  method: _ @call.callee) @call

; `handler.(x)` calls the receiver itself.
(call
  receiver: _ @call.callee
  !method) @call
