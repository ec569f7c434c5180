"""What optsync does, as functions the command line and tests call: they return data.

Configuration changes (:mod:`.config`), schedules and their OS entries (:mod:`.schedules`),
passes (:mod:`.passes`), the service's status (:mod:`.status`) and the installation checks
(:mod:`.doctor`). Nothing here prints or knows the command line's options.
"""
