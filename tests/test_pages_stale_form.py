"""An operator's own save never makes their form look stale; someone else's change does."""

import re


def _etag(html: str) -> str:
    return re.search(r'name="etag"[^>]*value="([^"]+)"', html).group(1).replace("&#34;", '"')


def test_own_save_is_not_a_change_meanwhile(api, operator, make_workflow):  # noqa: F811
    wf = make_workflow()
    page = operator.get(f"/workflows/{wf['id']}").get_data(as_text=True)
    saved = operator.post(
        f"/workflows/{wf['id']}/state",
        {"etag": _etag(page), "base_seq": "1", "state-amount": "5000", "state-purpose": "Roof"},
        htmx=True,
    )
    assert saved.status_code == 200, saved.get_data(as_text=True)[:300]
    etag = _etag(saved.get_data(as_text=True))
    live = operator.get(f"/workflows/{wf['id']}/live", htmx=True, query_string={"since": "x", "etag": etag})
    assert "changed after the form was loaded" not in live.get_data(as_text=True)

    api.put(f"/api/workflows/{wf['id']}", {"state_data": {"purpose": "Car"}}, role="integration")
    live = operator.get(f"/workflows/{wf['id']}/live", htmx=True, query_string={"since": "x", "etag": etag})
    assert "changed after the form was loaded" in live.get_data(as_text=True)
