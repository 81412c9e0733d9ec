"""One queue driver for the msgq (System V) and mqueue (POSIX) specs, and one model of a queue.

The two mechanisms differ in how a queue is named (a key, a name), made, measured and removed,
and in which message a receive takes (msgrcv's type rule, priority order). Everything else is
the same, and is written once here:

- the grader's side of a queue (``Queues``, implemented by SysvQueues and PosixQueues): queues
  made under this run's keys and names and removed at teardown whatever happened, messages sent
  and taken without ever blocking the grader;
- the programs' side: a `send` or `recv` run to its end, failing at once when it sleeps in the
  queue's call although it should not (a receiver that sleeps although a matching message is
  queued is a finding, not a reason to wait out a deadline), and the `NUMBER LENGTH` + body
  output of a `recv` parsed defensively;
- the model-based ordering specs (Hypothesis): operations (``Send``, ``Recv``) played on the
  implementation's queue and on a trivially correct model of it beside it (``play``), the model
  parameterised by the ordering rule (``TypeRule``, ``PriorityOrder``); the first difference
  fails, with the steps that led to it.
"""

from .driver import (
    MQ_RECEIVE,
    MQ_SEND,
    MSGRCV,
    MSGSND,
    Message,
    Queues,
    describe_message,
    expect_exit,
    messages,
    numbered,
)
from .model import (
    Ordering,
    PriorityOrder,
    Recv,
    Send,
    TypeRule,
    operations,
    play,
    sends,
)
from .posix import PosixQueues
from .sysv import SysvQueues, msgmax

__all__ = [
    "MQ_RECEIVE",
    "MQ_SEND",
    "MSGRCV",
    "MSGSND",
    "Message",
    "Ordering",
    "PosixQueues",
    "PriorityOrder",
    "Queues",
    "Recv",
    "Send",
    "SysvQueues",
    "TypeRule",
    "describe_message",
    "expect_exit",
    "messages",
    "msgmax",
    "numbered",
    "operations",
    "play",
    "sends",
]
