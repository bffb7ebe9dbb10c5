"""A real SMTP server for the tests (aiosmtpd): appends each message it takes as one JSON
line (envelope, decoded subject and plain-text body) to a file, so a test can read what
arrived. `--refuse-first N` answers the first N messages with a temporary failure (451),
as a mail server that is busy would.

    python3 tests/smtp_sink.py PORT OUT.jsonl [--refuse-first N]
"""

import argparse
import asyncio
import email
import json
from email import policy

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out, refuse_first):
        self.out = out
        self.refuse_left = refuse_first

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_left > 0:
            self.refuse_left -= 1
            return "451 4.3.0 try again later"
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        body = msg.get_body(preferencelist=("plain",))
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "header_from": str(msg["from"]),
            "header_to": str(msg["to"]),
            "subject": str(msg["subject"]),
            "content_type": msg.get_content_type(),
            "charset": msg.get_content_charset(),
            "body": body.get_content() if body is not None else None,
        }
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        return "250 OK"


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("out")
    p.add_argument("--refuse-first", type=int, default=0)
    a = p.parse_args()
    controller = Controller(Sink(a.out, a.refuse_first), hostname="127.0.0.1", port=a.port)
    controller.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
