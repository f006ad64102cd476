"""A browser-like Label Studio client for tests: session login, then the REST API."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from tests.browser_session import BrowserSession


class LabelStudioSession(BrowserSession):
    """Logs in through the login form (CSRF and session cookies) and calls the API."""

    def _csrf(self) -> str:
        return self.cookie("csrftoken")

    def request(self, method: str, path: str, data: object = None, form: dict | None = None) -> tuple[int, object]:
        body, headers = None, {"X-CSRFToken": self._csrf(), "Referer": self.base + "/"}
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif data is not None:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                text = response.read().decode()
                status = response.status
        except urllib.error.HTTPError as err:
            text, status = err.read().decode(errors="replace"), err.code
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def login(self, email: str, password: str) -> bool:
        """True when the login form accepted the account (the API then answers)."""
        self.request("GET", "/user/login/")
        self.request(
            "POST", "/user/login/", form={"email": email, "password": password, "csrfmiddlewaretoken": self._csrf()}
        )
        return self.request("GET", "/api/current-user/whoami")[0] == 200

    def create_project(self, title: str) -> int:
        config = (
            '<View><Text name="text" value="$text"/><Choices name="label" toName="text">'
            '<Choice value="pos"/><Choice value="neg"/></Choices></View>'
        )
        status, project = self.request("POST", "/api/projects", {"title": title, "label_config": config})
        assert status == 201, project
        return int(project["id"])  # type: ignore[index]

    def import_tasks(self, project: int, texts: list[str]) -> None:
        status, answer = self.request("POST", f"/api/projects/{project}/import", [{"text": t} for t in texts])
        assert status == 201, answer

    def task_ids(self, project: int) -> list[int]:
        status, tasks = self.request("GET", f"/api/tasks?project={project}&page_size=100000")
        assert status == 200, tasks
        return [task["id"] for task in tasks["tasks"]]  # type: ignore[index]

    def annotate(self, task: int, choice: str) -> int:
        result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [choice]}}]
        status, annotation = self.request("POST", f"/api/tasks/{task}/annotations", {"result": result})
        assert status == 201, annotation
        return int(annotation["id"])  # type: ignore[index]

    def annotations(self, task: int) -> list[str]:
        status, found = self.request("GET", f"/api/tasks/{task}/annotations")
        assert status == 200, found
        return [a["result"][0]["value"]["choices"][0] for a in found]  # type: ignore[index, union-attr]
