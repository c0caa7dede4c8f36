"""Which of an assignment's states are over, and which still leave its agency work to do."""

# Assignment states after which nothing more happens to that assignment.
FINISHED = (
    "declined",
    "completed",
    "did_not_attend",
    "closed_no_contact",
    "cancelled",
    "escalated_to_gp",
)
# States in which the agency still has work to do: routed to it, delivered, taken on, or late (an SLA breach
# leaves it open). Every other state, and any state added later until it is listed here, is closed to the agency.
OPEN = ("assigned", "offered", "accepted", "patient_contacted", "escalated")
