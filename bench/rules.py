"""What the gate can judge: its metrics, default rules, normalisations and verdicts (no numpy, no
pandas: the CLI builds its --help from these without importing the gate)."""

METRICS = ("time", "convergence_epoch", "steps_to_solve", "final_loss")
SOLVE_METRICS = ("convergence_epoch", "steps_to_solve")  # empty = not solved within the budget
DEFAULT_RULES = ("time:median:10%", "convergence_epoch:+2:20%", "steps_to_solve:20%", "final_loss:20%")
NORMALIZE = ("none", "rnn", "machine")
# The unit of a time finding's baseline and current medians under each normalisation.
TIME_UNITS = {"none": "s", "rnn": "x RNN step", "machine": "x machine workload"}
VERDICTS = ("regression", "improvement", "unchanged", "skipped")
RULE_FORMS = "time:median:P%, convergence_epoch:[+N][:P%], steps_to_solve:[+N][:P%], final_loss:[+X][:P%]"
