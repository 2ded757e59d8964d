def test_take_then_status_reports_the_same_ticket(make_app):
    client = make_app().test_client()
    taken = client.post("/api/rooms/shop/tickets")
    assert taken.status_code == 201
    ticket = taken.json["ticket"]
    status = client.get(f"/api/rooms/shop/tickets/{ticket}")
    assert status.status_code == 200
    assert status.json["ticket"] == ticket
    assert status.json["number"] == taken.json["number"] == 1
