

xPlaceholder


no_op_here"í