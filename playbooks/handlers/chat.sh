#!/bin/sh
# Posts one line per heal event to a chat webhook (Slack, Mattermost and Rocket.Chat
# incoming webhooks take {"text": "..."}): a --notify-exec handler.
#
#   CHAT_WEBHOOK=https://chat.example.com/hooks/... \
#     olympus heal rules.yml --once --notify-exec handlers/chat.sh
#
# Needs curl. The event's fields arrive as OLYMPUS_* variables (the whole event is JSON on
# stdin, unread here).
set -eu
: "${CHAT_WEBHOOK:?set CHAT_WEBHOOK to the incoming webhook's URL}"
case "${OLYMPUS_EVENT:-}" in
    action) line="heal ${OLYMPUS_RULE:-}: ${OLYMPUS_PLAYBOOK:-} on ${OLYMPUS_HOST:-} -> ${OLYMPUS_OUTCOME:-} ${OLYMPUS_DETAIL:-}" ;;
    max_hosts) line="heal ${OLYMPUS_RULE:-}: too many hosts at once, nothing done: ${OLYMPUS_DETAIL:-}" ;;
    kill_switch) line="heal engaged the kill switch: ${OLYMPUS_DETAIL:-}" ;;
    *) line="heal ${OLYMPUS_EVENT:-event}: ${OLYMPUS_DETAIL:-}" ;;
esac
# A JSON string: backslashes and quotes escaped, control characters dropped.
text=$(printf '%s' "$line" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')
curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' \
    --data-binary "{\"text\": \"$text\"}" "$CHAT_WEBHOOK" >/dev/null
