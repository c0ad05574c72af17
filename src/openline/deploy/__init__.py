"""Deployments: agent code uploaded to openline, built into its own virtualenv with uv,
run as a supervised process, health-checked, switched live, and logged line by line.

- ``archive``: unpacking an upload without letting it write outside its directory
- ``project``: what an agent directory declares (entry point, dependencies)
- ``build``: the virtualenv, built with uv
- ``process``: one running agent process and its output
- ``logsink``: output lines → stored, levelled, redacted, attributed log lines
- ``routing``: which calls are in flight on which deployment
- ``supervisor``: the state machine that ties them together
- ``retention``: bounded log and disk use
"""
