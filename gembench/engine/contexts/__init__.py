"""The measurement contexts: what a case's callables are (the activation alone, inside a block,
inside a whole model), each one :class:`.subject.Subject` registered with
:func:`gembench.spec.contexts.register_context`."""
