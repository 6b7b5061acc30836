"""Microsoft.DevTestLab: global schedules, which is how Azure does VM auto-shutdown."""

from __future__ import annotations

import re
import uuid
from ..core import utc_now
from ..routing import Call, Provider
from ..wire import ArmError, Response, missing_property
from .common import begin_put, get_or_404, getter, lister, require_reference

NS = "Microsoft.DevTestLab"
SCHEDULE_TYPE = f"{NS}/schedules"
TASK_TYPES = ("ComputeVmShutdownTask", "LabVmsShutdownTask", "LabVmsStartupTask", "LabVmAutoStart")
HHMM = re.compile(r"^([01]\d|2[0-3])[0-5]\d$")


class DevTestLabProvider(Provider):
    namespace = NS

    def __init__(self, em) -> None:
        super().__init__(em)
        self.route_kind("schedules", "name", lister(SCHEDULE_TYPE), PUT=self.put_schedule,
                        GET=getter("schedules", SCHEDULE_TYPE), PATCH=self.patch_schedule, DELETE=self.delete_schedule)

    def _id(self, call: Call) -> str:
        return call.resource_id("schedules", call.params["name"])

    def put_schedule(self, call: Call) -> Response:
        existing, body, props = begin_put(call, SCHEDULE_TYPE, self._id(call), call.params["name"], keep_id=True)
        body.setdefault("tags", {})
        task = props.get("taskType")
        if not task:
            raise missing_property("properties.taskType")
        if task not in TASK_TYPES:
            raise ArmError(400, "InvalidTaskType", f"The task type '{task}' is not valid. Valid task types are: "
                           f"{', '.join(TASK_TYPES)}.", target="properties.taskType")
        recurrence = props.get("dailyRecurrence") or props.get("weeklyRecurrence") or props.get("hourlyRecurrence")
        if not recurrence:
            raise missing_property("properties.dailyRecurrence")
        time = str((recurrence or {}).get("time", ""))
        if "hourlyRecurrence" not in props and not HHMM.match(time):
            raise ArmError(400, "InvalidScheduleTime", f"The schedule time '{time}' is not valid: use 24-hour HHmm, "
                           "for example 1900.", target="properties.dailyRecurrence.time")
        if not props.get("timeZoneId"):
            raise missing_property("properties.timeZoneId")
        if task == "ComputeVmShutdownTask":
            require_reference(call, {"id": props.get("targetResourceId")}, body["id"], "properties.targetResourceId")
        body["properties"] = {
            **props,
            "status": props.get("status", "Enabled"),
            "notificationSettings": props.get("notificationSettings") or {"status": "Disabled", "timeInMinutes": 30},
            "createdDate": (existing or {}).get("properties", {}).get("createdDate") or utc_now(),
            "provisioningState": "Succeeded",
            "uniqueIdentifier": (existing or {}).get("properties", {}).get("uniqueIdentifier") or str(uuid.uuid4()),
        }
        call.em.put(body)
        return Response(200 if existing else 201, call.em.public(body))

    def patch_schedule(self, call: Call) -> Response:
        body = get_or_404(call, self._id(call), SCHEDULE_TYPE, call.params["name"])
        patch = call.body_object()
        if "tags" in patch:
            body["tags"] = patch["tags"]
        for key, value in (patch.get("properties") or {}).items():
            body["properties"][key] = value
        return Response(200, call.em.public(body))

    def delete_schedule(self, call: Call) -> Response:
        if call.em.get(self._id(call)) is None:
            return Response(204)
        call.em.delete(self._id(call))
        return Response(200)


def register(em) -> DevTestLabProvider:
    return DevTestLabProvider(em)


PROVIDER = register
