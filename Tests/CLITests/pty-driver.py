#!/usr/bin/env python3
"""Drives a program through a pseudo-terminal, as a person would.

usage: pty-driver.py SCRIPT.json -- PROGRAM [ARG...]
SCRIPT.json is a list of steps: {"expect": TEXT} waits for TEXT on the screen,
{"send": TEXT} types TEXT and Enter, {"interrupt": true} sends Ctrl-C, {"eof": true} Ctrl-D,
{"pause": SECONDS} waits (reading the screen), {"signal": NAME} sends that signal (e.g. TSTP, CONT) to the program,
{"post": URL, "body": OBJECT} posts OBJECT as JSON to URL (a simulator's
admin endpoint on loopback, to change its behaviour mid-run),
{"echo_state": true} notes whether echo is on at that moment (a hidden prompt
must have turned it off before its text appeared). The last line tells whether echo is on.
Prints the whole transcript on stdout and exits with the program's status
(124 when an expected text never came).
"""
import json, os, pty, select, signal, sys, time

steps = json.load(open(sys.argv[1]))
argv = sys.argv[sys.argv.index("--") + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)

out = b""
def pump(deadline):
    global out
    r, _, _ = select.select([fd], [], [], max(0, min(0.1, deadline - time.time())))
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            return False
        if not data:
            return False
        out += data
    return True

import termios
def echo_state():
    try:
        return "on" if termios.tcgetattr(fd)[3] & termios.ECHO else "off"
    except Exception as e:
        return "unknown (%s)" % e

marks = []
seen = 0
for step in steps:
    if "expect" in step:
        want = step["expect"].encode()
        # A hang guard, not a speed check: CI machines under the whole suite's
        # load have taken over 20 s for one Argon2id and one loopback call.
        deadline = time.time() + step.get("timeout", 120)
        while out.find(want, seen) < 0 and time.time() < deadline:
            if not pump(deadline):
                break
        at = out.find(want, seen)
        if at < 0:
            sys.stdout.write(out.decode(errors="replace"))
            sys.stdout.write("\n[pty-driver] never saw: %r\n" % step["expect"])
            os.kill(pid, signal.SIGKILL)
            sys.exit(124)
        seen = at + len(want)
    elif "send" in step:
        time.sleep(0.05)
        os.write(fd, step["send"].encode() + b"\n")
    elif "post" in step:
        import urllib.request
        request = urllib.request.Request(step["post"], data=json.dumps(step["body"]).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(request, timeout=10).read()
    elif "echo_state" in step:
        marks.append(echo_state())
    elif "pause" in step:
        deadline = time.time() + step["pause"]
        while time.time() < deadline:
            pump(deadline)
    elif "signal" in step:
        time.sleep(0.2)
        os.kill(pid, getattr(signal, "SIG" + step["signal"]))
        time.sleep(0.2)
    elif "eof" in step:
        time.sleep(0.05)
        os.write(fd, b"\x04")
    elif "interrupt" in step:
        time.sleep(0.05)
        os.write(fd, b"\x03")

# Let the program finish; one still waiting for input after that is killed
# (SIGKILL: it gets no chance to tidy the terminal).
deadline = time.time() + 60
while time.time() < deadline and pump(deadline):
    pass
done, status = os.waitpid(pid, os.WNOHANG)
if done == 0:
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
for m in marks:
    sys.stdout.write("\n[pty-driver] at prompt echo=%s" % m)
# The terminal's settings as the program left them (a pty's master and slave
# share one set), for tests that a hidden prompt restores echo.
sys.stdout.write("\n[pty-driver] echo=%s\n" % echo_state())
sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
