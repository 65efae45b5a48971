"""Returned work: reading what arrives in the drop folder, annotating it with what the store knows, filing it
once; what follows a filed return (feedback, corrective actions, escalations); chasing the deadlines; and the
workbooks sent out and read back."""
