def test_it_serves_openapi(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert "/api/v1/events/batch" in response.json()["paths"]
