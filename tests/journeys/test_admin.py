"""Marketers edit journeys in the admin; every save is validated and versioned."""

import json

from journeys.models import Journey
from journeys.services import journey_activate
from tests.journeys.documents import welcome


def _post(admin_client, url, document):
    return admin_client.post(url, {"document": json.dumps(document)})


def test_it_creates_a_journey_from_its_document(admin_client, messages):
    response = _post(admin_client, "/admin/journeys/journey/add/", welcome())
    assert response.status_code == 302, response.content.decode()[:2000]
    journey = Journey.objects.get()
    assert (journey.key, journey.status, journey.versions.count()) == ("welcome", "draft", 1)


def test_it_shows_what_is_wrong_naming_the_step_and_saves_nothing(admin_client, messages):
    broken = welcome()
    broken["steps"]["pause"]["next"] = "later"
    response = _post(admin_client, "/admin/journeys/journey/add/", broken)
    assert response.status_code == 200
    assert "steps.pause: &#x27;next&#x27; points to &#x27;later&#x27;" in response.content.decode()
    assert not Journey.objects.exists()


def test_editing_a_live_journey_makes_a_new_version(admin_client, messages):
    _post(admin_client, "/admin/journeys/journey/add/", welcome())
    journey = Journey.objects.get()
    journey_activate(journey=journey)
    edited = welcome(name="Welcome, shorter")
    edited["steps"]["pause"]["duration"] = "1d"
    response = _post(admin_client, f"/admin/journeys/journey/{journey.pk}/change/", edited)
    assert response.status_code == 302
    journey.refresh_from_db()
    assert [v.number for v in journey.versions.order_by("number")] == [1, 2]
    assert journey.live_version.number == 2 and journey.name == "Welcome, shorter"
    page = admin_client.get(f"/admin/journeys/journey/{journey.pk}/change/").content.decode()
    assert "&quot;duration&quot;: &quot;1d&quot;" in page or '"duration": "1d"' in page


def test_the_key_of_a_journey_cannot_change(admin_client, messages):
    _post(admin_client, "/admin/journeys/journey/add/", welcome())
    journey = Journey.objects.get()
    response = _post(
        admin_client, f"/admin/journeys/journey/{journey.pk}/change/", welcome(key="renamed")
    )
    assert response.status_code == 200
    assert "key: must stay &#x27;welcome&#x27;" in response.content.decode()


def test_activate_and_pause_actions(admin_client, messages):
    _post(admin_client, "/admin/journeys/journey/add/", welcome())
    journey = Journey.objects.get()
    for action, status in (("activate", "active"), ("pause", "paused")):
        admin_client.post(
            "/admin/journeys/journey/", {"action": action, "_selected_action": [journey.pk]}
        )
        journey.refresh_from_db()
        assert journey.status == status
