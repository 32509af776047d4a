from django.urls import path
from loans import views

urlpatterns = [
    path("api/applications", views.applications),
    path("api/applications/<int:pk>", views.application),
]
