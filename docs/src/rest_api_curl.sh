# A tour of the REST API with curl (docs/rest-api.rst), run by tests/api/test_docs_curl.py.
# Run it with `bash -euo pipefail docs/src/rest_api_curl.sh`. It needs two variables:
#   BASE   where the routes are mounted, such as http://127.0.0.1:8000/api/workflows
#   TOKEN  a bearer token of a user in the group "managers" who may start workflows
#          (python manage.py workflows_token <username>)
# Each check (`test ...`) stops the script when the API answers something else.

# [setup]
AUTH="Authorization: Bearer $TOKEN"
JSON="Content-Type: application/json"

# Print one field of the JSON document on stdin: `pick pending_tasks 0 id`.
pick() {
  python3 -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1:]:
    value = value[int(key) if key.isdigit() else key]
print(value)' "$@"
}

# Answers that should be errors go to this file, and their status is checked.
ANSWER=$(mktemp)
trap 'rm -f "$ANSWER"' EXIT
# [/setup]

# [unauthenticated]
# No credentials: 401, with "WWW-Authenticate: Bearer".
STATUS=$(curl -sS -o "$ANSWER" -w '%{http_code}' "$BASE/tasks")
cat "$ANSWER"; echo
test "$STATUS" = 401
# [/unauthenticated]

# [definitions]
curl --fail-with-body -sS -H "$AUTH" "$BASE/definitions"
# [/definitions]
echo

# [start]
INSTANCE=$(curl --fail-with-body -sS -H "$AUTH" -H "$JSON" \
  -d '{"definition_name": "expense_approval", "input_data": {"amount": 120}}' \
  "$BASE/instances")
echo "$INSTANCE"
INSTANCE_ID=$(echo "$INSTANCE" | pick id)
TASK_ID=$(echo "$INSTANCE" | pick pending_tasks 0 id)
test "$(echo "$INSTANCE" | pick status)" = waiting
# [/start]

# [inbox]
# The tasks offered to me; count=true adds the X-Total-Count header.
curl --fail-with-body -sS -i -H "$AUTH" "$BASE/tasks?workflow_name=expense_approval&count=true"
# [/inbox]
echo

# [claim]
curl --fail-with-body -sS -X POST -H "$AUTH" "$BASE/tasks/$TASK_ID/claim"
# [/claim]
echo

# [invalid]
# "approved" must be a boolean (the task's form_schema says so): 422, and the task stays
# pending.
STATUS=$(curl -sS -o "$ANSWER" -w '%{http_code}' -H "$AUTH" -H "$JSON" \
  -d '{"output_data": {"approved": "yes"}}' \
  "$BASE/tasks/$TASK_ID/complete")
cat "$ANSWER"; echo
test "$STATUS" = 422
test "$(pick code < "$ANSWER")" = invalid_task_data
# [/invalid]

# [complete]
curl --fail-with-body -sS -H "$AUTH" -H "$JSON" \
  -d '{"output_data": {"approved": true}, "comment": "Receipt checked"}' \
  "$BASE/tasks/$TASK_ID/complete"
# [/complete]
echo

# [detail]
DETAIL=$(curl --fail-with-body -sS -H "$AUTH" "$BASE/instances/$INSTANCE_ID")
echo "$DETAIL"
test "$(echo "$DETAIL" | pick status)" = completed
test "$(echo "$DETAIL" | pick context_data reimbursed)" = 120
# [/detail]

# [conflict]
# The task is no longer pending: 409.
STATUS=$(curl -sS -o "$ANSWER" -w '%{http_code}' -H "$AUTH" -H "$JSON" \
  -d '{"output_data": {"approved": true}}' \
  "$BASE/tasks/$TASK_ID/complete")
cat "$ANSWER"; echo
test "$STATUS" = 409
test "$(pick code < "$ANSWER")" = task_already_completed
# [/conflict]
